/**
 * This browser's results, kept across reloads in IndexedDB (images are too
 * big for localStorage's few megabytes): the newest first, at most
 * `MAX_ITEMS`, the oldest forgotten beyond that. Each item is kept with a
 * small thumbnail; its full image is kept apart and read only when opened, so
 * that showing the gallery on a phone does not hold 60 full images in memory.
 */
import { createStore, del, get, set } from 'idb-keyval';
import type { TaskKind } from '../api/types';

export interface GalleryItem {
  id: string;
  taskId: string;
  kind: TaskKind;
  createdAt: number;
  /** A small copy of the image, as a data URL; none for an interrogation. */
  thumb: string | null;
  caption: string | null;
  seed: number | null;
  /** The request that made it, its images left out (they can be large). */
  params: Record<string, unknown>;
}

/** An item as a result makes it: with its full image (base64 PNG, no data: prefix), not yet a thumbnail. */
export type NewGalleryItem = Omit<GalleryItem, 'thumb'> & { image: string | null };

const MAX_ITEMS = 60;
const THUMB_SIDE = 192;
const imageKey = (id: string) => `image:${id}`;
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

/**
 * The other tabs of this browser share the gallery (one IndexedDB), but IndexedDB tells no one of a change:
 * each write is announced on a channel, and every tab reads the gallery again when one is.
 */
const CHANNEL = 'dan-gallery';
const announcer = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(CHANNEL);

async function announced(gallery: Promise<GalleryItem[]>): Promise<GalleryItem[]> {
  const items = await gallery;
  announcer?.postMessage('changed');
  return items;
}

/** Calls `changed` with the gallery whenever another tab changes it; answers how to stop. */
export function onGalleryChange(changed: (items: GalleryItem[]) => void): () => void {
  if (typeof BroadcastChannel === 'undefined') return () => undefined;
  // A channel of its own: a BroadcastChannel does not hear its own messages, so this tab's writes are not read back.
  const listener = new BroadcastChannel(CHANNEL);
  listener.onmessage = () => void loadGallery().then(changed, () => undefined);
  return () => listener.close();
}

/** Adds items (the newest first), but those it holds already (two tabs that followed the same task); answers the gallery as it is now. */
export function addToGallery(items: NewGalleryItem[]): Promise<GalleryItem[]> {
  return announced(serially(async () => {
    const held = new Set(await index());
    const fresh = items.filter((item) => !held.has(item.id));
    for (const { image, ...item } of fresh) {
      await set(imageKey(item.id), image, store);
      await set(item.id, { ...item, thumb: image === null ? null : await thumbnailOf(image) } satisfies GalleryItem, store);
    }
    const ids = [...fresh.map((item) => item.id), ...(await index())];
    for (const old of ids.slice(MAX_ITEMS)) {
      await del(old, store);
      await del(imageKey(old), store);
    }
    await set(INDEX, ids.slice(0, MAX_ITEMS), store);
    return loadGallery();
  }));
}

export function removeFromGallery(id: string): Promise<GalleryItem[]> {
  return announced(serially(async () => {
    await del(id, store);
    await del(imageKey(id), store);
    await set(INDEX, (await index()).filter((other) => other !== id), store);
    return loadGallery();
  }));
}

/** The item's full image (base64 PNG, no prefix), read when it is opened. */
export async function imageOf(id: string): Promise<string | null> {
  return (await get<string | null>(imageKey(id), store)) ?? null;
}

/** A copy at most THUMB_SIDE on its longest side, as a WebP (or PNG where the browser cannot make WebP) data URL. */
function thumbnailOf(image: string): Promise<string> {
  return new Promise((resolve) => {
    const full = new Image();
    full.onload = () => {
      const scale = Math.min(1, THUMB_SIDE / Math.max(full.naturalWidth, full.naturalHeight));
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(full.naturalWidth * scale));
      canvas.height = Math.max(1, Math.round(full.naturalHeight * scale));
      canvas.getContext('2d')!.drawImage(full, 0, 0, canvas.width, canvas.height);
      resolve(canvas.toDataURL('image/webp', 0.8));
    };
    // An image the browser cannot draw keeps no thumbnail rather than no item.
    full.onerror = () => resolve('');
    full.src = `data:image/png;base64,${image}`;
  });
}

/**
 * The settings that make the item's image again ("use these settings"): its request, with the seed it
 * was made with in place of a random one (-1), which would make another image.
 */
export function settingsOf(item: GalleryItem): Record<string, unknown> {
  return item.seed === null ? item.params : { ...item.params, seed: item.seed };
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
