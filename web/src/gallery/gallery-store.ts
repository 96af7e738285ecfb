/**
 * This browser's results, kept across reloads in IndexedDB (images are too
 * big for localStorage's few megabytes): the newest first, at most
 * `MAX_ITEMS`, the oldest forgotten beyond that.
 */
import { createStore, del, get, set } from 'idb-keyval';
import type { TaskKind } from '../api/types';

export interface GalleryItem {
  id: string;
  taskId: string;
  kind: TaskKind;
  createdAt: number;
  /** Base64 PNG, no data: prefix; none for an interrogation. */
  image: string | null;
  caption: string | null;
  seed: number | null;
  /** The request that made it, its images left out (they can be large). */
  params: Record<string, unknown>;
}

const MAX_ITEMS = 60;
const store = createStore('dan-playground', 'gallery');
const INDEX = 'index';

async function index(): Promise<string[]> {
  return (await get<string[]>(INDEX, store)) ?? [];
}

export async function loadGallery(): Promise<GalleryItem[]> {
  const ids = await index();
  const items = await Promise.all(ids.map((id) => get<GalleryItem>(id, store)));
  return items.filter((item): item is GalleryItem => item !== undefined);
}

/**
 * Writes one after another: the index is read and written back, and two results ending at once (every
 * view keeps running) must not each write back an index without the other's.
 */
let writes: Promise<unknown> = Promise.resolve();
function serially<T>(write: () => Promise<T>): Promise<T> {
  const next = writes.then(write, write);
  writes = next.catch(() => undefined);
  return next;
}

/** Adds items (the newest first); answers the gallery as it is now. */
export function addToGallery(items: GalleryItem[]): Promise<GalleryItem[]> {
  return serially(async () => {
    for (const item of items) await set(item.id, item, store);
    const ids = [...items.map((item) => item.id), ...(await index())];
    for (const old of ids.slice(MAX_ITEMS)) await del(old, store);
    await set(INDEX, ids.slice(0, MAX_ITEMS), store);
    return loadGallery();
  });
}

export function removeFromGallery(id: string): Promise<GalleryItem[]> {
  return serially(async () => {
    await del(id, store);
    await set(INDEX, (await index()).filter((other) => other !== id), store);
    return loadGallery();
  });
}

/** The request without its images, for the gallery and "use these settings". */
export function paramsOf(body: Record<string, unknown>): Record<string, unknown> {
  const { init_image: _init, image: _image, ...rest } = body;
  const params: Record<string, unknown> = { ...rest };
  if (Array.isArray(params['control_net'])) params['control_net'] = (params['control_net'] as Record<string, unknown>[]).map(({ image: _cn, ...unit }) => unit);
  if (params['inpaint'] && typeof params['inpaint'] === 'object') {
    const { mask: _mask, ...inpaint } = params['inpaint'] as Record<string, unknown>;
    params['inpaint'] = inpaint;
  }
  return params;
}
