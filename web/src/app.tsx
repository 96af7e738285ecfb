/**
 * The web app: the playground (one view per capability) and the dashboard,
 * chosen by the URL's hash (`#/txt2img`, `#/dashboard`) so that any path
 * the gateway serves stays the API's.
 */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api/client';
import type { SupportedInfo, TaskKind, TaskStatus } from './api/types';
import { Dashboard } from './dashboard/dashboard';
import { Gallery } from './gallery/gallery';
import { addToGallery, type GalleryItem, loadGallery, paramsOf, removeFromGallery } from './gallery/gallery-store';
import { type Txt2ImgForm, txt2imgFormOf } from './playground/txt2img-form';
import { Txt2ImgView } from './playground/txt2img-view';

type Route = 'txt2img' | 'dashboard';
const ROUTES: { route: Route; label: string }[] = [
  { route: 'txt2img', label: 'Text to image' },
  { route: 'dashboard', label: 'Dashboard' },
];

function routeOf(hash: string): Route {
  const name = hash.replace(/^#\/?/, '');
  return ROUTES.find((r) => r.route === name)?.route ?? 'txt2img';
}

/** How often the playground reads what the network offers (models come and go with nodes). */
const INFO_REFRESH_MS = 10_000;

export function App() {
  const [route, setRoute] = useState<Route>(routeOf(window.location.hash));
  const [info, setInfo] = useState<SupportedInfo | null>(null);
  const [gallery, setGallery] = useState<GalleryItem[]>([]);
  const [preset, setPreset] = useState<Txt2ImgForm | null>(null);

  useEffect(() => {
    const onHash = () => setRoute(routeOf(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    void loadGallery().then(setGallery, () => setGallery([]));
    const read = () => getJson<SupportedInfo>('/api/sd/supportedModelInfo').then(setInfo, () => undefined);
    void read();
    const timer = setInterval(() => void read(), INFO_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  const keep = (kind: TaskKind) => (status: TaskStatus, body: Record<string, unknown>) => {
    if (status.status !== 2) return;
    const createdAt = Date.now();
    const params = paramsOf(body);
    const items: GalleryItem[] =
      status.caption !== undefined
        ? [{ id: `${status.taskId}-0`, taskId: status.taskId, kind, createdAt, image: null, caption: status.caption, seed: null, params }]
        : (status.images ?? []).map((image, i) => ({ id: `${status.taskId}-${i}`, taskId: status.taskId, kind, createdAt, image, caption: null, seed: status.seeds?.[i] ?? null, params }));
    void addToGallery(items).then(setGallery);
  };

  return (
    <>
      <header class="top">
        <a class="brand" href="#/txt2img">
          DAN
        </a>
        <nav aria-label="Views">
          {ROUTES.map((r) => (
            <a key={r.route} href={`#/${r.route}`} aria-current={route === r.route ? 'page' : undefined}>
              {r.label}
            </a>
          ))}
          <a href="/docs">API docs</a>
        </nav>
        {info && (
          <span class="network" title="Nodes connected and ready">
            {info.nodes.ready} of {info.nodes.connected} nodes ready
          </span>
        )}
      </header>
      <main>
        {route === 'dashboard' ? (
          <Dashboard />
        ) : (
          <div class="playground">
            <section class="panel">
              <h1>Text to image</h1>
              <Txt2ImgView info={info} preset={preset} onEnd={keep('txt2img')} />
            </section>
            <section class="panel">
              <h2>Gallery</h2>
              <Gallery
                items={gallery}
                onUse={(item) => {
                  setPreset(txt2imgFormOf(item.params));
                  window.scrollTo({ top: 0, behavior: 'smooth' });
                }}
                onRemove={(item) => void removeFromGallery(item.id).then(setGallery)}
              />
            </section>
          </div>
        )}
      </main>
    </>
  );
}
