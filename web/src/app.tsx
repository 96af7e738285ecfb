/**
 * The web app: the playground (one view per capability) and the dashboard,
 * chosen by the URL's hash (`#/txt2img`, `#/inpaint`, `#/dashboard`) so that
 * every path the gateway serves stays the API's. The views stay mounted when
 * another is shown: a task keeps running, and its result reaches the gallery.
 */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api/client';
import type { SupportedInfo, TaskKind, TaskStatus } from './api/types';
import { Dashboard } from './dashboard/dashboard';
import { KeySetting } from './key-setting';
import { Gallery } from './gallery/gallery';
import { addToGallery, type GalleryItem, loadGallery, type NewGalleryItem, onGalleryChange, paramsOf, removeFromGallery, settingsOf } from './gallery/gallery-store';
import { type Img2ImgForm, img2imgFormOf } from './playground/img2img-form';
import { Img2ImgView } from './playground/img2img-view';
import { InterrogateView } from './playground/interrogate-view';
import { type SendTarget, SendToContext } from './playground/send-to';
import { type Txt2ImgForm, txt2imgFormOf } from './playground/txt2img-form';
import { Txt2ImgView } from './playground/txt2img-view';
import { UpscaleView } from './playground/upscale-view';

type Route = 'txt2img' | SendTarget | 'dashboard';
const ROUTES: { route: Route; label: string }[] = [
  { route: 'txt2img', label: 'Text to image' },
  { route: 'img2img', label: 'Image to image' },
  { route: 'inpaint', label: 'Inpaint' },
  { route: 'upscale', label: 'Upscale' },
  { route: 'interrogate', label: 'Interrogate' },
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
  const [img2imgPreset, setImg2ImgPreset] = useState<Img2ImgForm | null>(null);
  const [incoming, setIncoming] = useState<Partial<Record<SendTarget, { image: string }>>>({});

  useEffect(() => {
    const onHash = () => setRoute(routeOf(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    void loadGallery().then(setGallery, () => setGallery([]));
    // Another tab's result or deletion shows here too.
    return onGalleryChange(setGallery);
  }, []);
  useEffect(() => {
    void readInfo();
    const timer = setInterval(() => document.visibilityState === 'visible' && void readInfo(), INFO_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  const [infoProblem, setInfoProblem] = useState<string | null>(null);
  const readInfo = () =>
    getJson<SupportedInfo>('/api/sd/supportedModelInfo').then(
      (read) => {
        setInfo(read);
        setInfoProblem(null);
      },
      (error: unknown) => setInfoProblem(error instanceof Error ? error.message : String(error)),
    );
  const go = (to: Route) => {
    window.location.hash = `#/${to}`;
    window.scrollTo({ top: 0 });
  };
  const send = (target: SendTarget, image: string) => {
    setIncoming((current) => ({ ...current, [target]: { image: `data:image/png;base64,${image}` } }));
    go(target);
  };
  const keep = (kind: TaskKind) => (status: TaskStatus, body: Record<string, unknown>) => {
    if (status.status !== 2) return;
    const createdAt = Date.now();
    const params = paramsOf(body);
    const items: NewGalleryItem[] =
      status.caption !== undefined
        ? [{ id: `${status.taskId}-0`, taskId: status.taskId, kind, createdAt, image: null, caption: status.caption, seed: null, params }]
        : (status.images ?? []).map((image, i) => ({ id: `${status.taskId}-${i}`, taskId: status.taskId, kind, createdAt, image, caption: null, seed: status.seeds?.[i] ?? null, params }));
    void addToGallery(items).then(setGallery);
  };
  const playground = route !== 'dashboard';
  const title = ROUTES.find((r) => r.route === route)?.label ?? '';

  return (
    <SendToContext.Provider value={send}>
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
        <KeySetting onChange={() => void readInfo()} />
      </header>
      {infoProblem && (
        <p class="notice" role="alert">
          {infoProblem}
        </p>
      )}
      <main>
        {route === 'dashboard' && <Dashboard />}
        <div class="playground" hidden={!playground}>
          <section class="panel">
            <h1>{title}</h1>
            <div hidden={route !== 'txt2img'}>
              <Txt2ImgView info={info} preset={preset} onEnd={keep('txt2img')} />
            </div>
            <div hidden={route !== 'img2img'}>
              <Img2ImgView info={info} inpaint={false} incoming={incoming.img2img ?? null} preset={img2imgPreset} onEnd={keep('img2img')} />
            </div>
            <div hidden={route !== 'inpaint'}>
              <Img2ImgView info={info} inpaint incoming={incoming.inpaint ?? null} preset={img2imgPreset} onEnd={keep('img2img')} />
            </div>
            <div hidden={route !== 'upscale'}>
              <UpscaleView info={info} incoming={incoming.upscale ?? null} onEnd={keep('upscale')} />
            </div>
            <div hidden={route !== 'interrogate'}>
              <InterrogateView info={info} incoming={incoming.interrogate ?? null} onEnd={keep('interrogate')} />
            </div>
          </section>
          <section class="panel">
            <h2>Gallery</h2>
            <Gallery
              items={gallery}
              onUse={(item) => {
                if (item.kind === 'img2img') {
                  setImg2ImgPreset(img2imgFormOf(settingsOf(item)));
                  go(item.params['inpaint'] ? 'inpaint' : 'img2img');
                  return;
                }
                setPreset(txt2imgFormOf(settingsOf(item)));
                go('txt2img');
              }}
              onRemove={(item) => void removeFromGallery(item.id).then(setGallery)}
            />
          </section>
        </div>
      </main>
    </SendToContext.Provider>
  );
}
