/**
 * @module sandbox/comfyui/comfy-messages
 *
 * ComfyUI's websocket (`/ws?clientId=`): JSON text frames `{type, data}` for a
 * prompt's events go to the socket of the prompt's `client_id`, `status`
 * goes to everyone; previews are binary frames (4-byte big-endian event 1 =
 * PREVIEW_IMAGE, 4-byte image format 1 = JPEG / 2 = PNG, then the image).
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';

const PREVIEW_IMAGE_EVENT = 1;
const JPEG_FORMAT = 1;

export class ComfySockets {
  readonly #clients = new Map<string, Set<WebSocket>>();

  /** Registers a socket; returns its client id (the one asked for, else a fresh `uuid4().hex`). */
  add(socket: WebSocket, clientId: string | undefined, queueRemaining: number): string {
    const id = clientId && clientId.length > 0 ? clientId : randomUUID().replace(/-/g, '');
    let set = this.#clients.get(id);
    if (!set) this.#clients.set(id, (set = new Set()));
    set.add(socket);
    socket.on('close', () => {
      set.delete(socket);
      if (set.size === 0 && this.#clients.get(id) === set) this.#clients.delete(id);
    });
    sendText(socket, 'status', { status: { exec_info: { queue_remaining: queueRemaining } }, sid: id });
    return id;
  }

  send(clientId: string | null, type: string, data: Record<string, unknown>): void {
    if (clientId === null) return;
    for (const socket of this.#clients.get(clientId) ?? []) sendText(socket, type, data);
  }

  broadcastStatus(queueRemaining: number): void {
    for (const set of this.#clients.values()) for (const socket of set) sendText(socket, 'status', { status: { exec_info: { queue_remaining: queueRemaining } } });
  }

  sendPreview(clientId: string | null, jpeg: Buffer): void {
    if (clientId === null) return;
    const header = Buffer.alloc(8);
    header.writeUInt32BE(PREVIEW_IMAGE_EVENT, 0);
    header.writeUInt32BE(JPEG_FORMAT, 4);
    const frame = Buffer.concat([header, jpeg]);
    for (const socket of this.#clients.get(clientId) ?? []) if (socket.readyState === socket.OPEN) socket.send(frame, { binary: true });
  }

  closeAll(): void {
    for (const set of this.#clients.values()) for (const socket of set) socket.terminate();
    this.#clients.clear();
  }
}

function sendText(socket: WebSocket, type: string, data: Record<string, unknown>): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type, data }));
}
