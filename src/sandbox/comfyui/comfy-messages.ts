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

/**
 * One socket per client id, as ComfyUI's `server.py` keeps them: a new socket with an id takes the id over,
 * and any socket with an id closing forgets the id, even when a newer socket holds it then. A client that
 * reuses its id across connections can lose its events; the sandbox behaves the same so a driver that
 * does so fails its tests.
 */
export class ComfySockets {
  readonly #clients = new Map<string, WebSocket>();

  /** Registers a socket; returns its client id (the one asked for, else a fresh `uuid4().hex`). */
  add(socket: WebSocket, clientId: string | undefined, queueRemaining: number): string {
    const id = clientId && clientId.length > 0 ? clientId : randomUUID().replace(/-/g, '');
    this.#clients.set(id, socket);
    socket.on('close', () => this.#clients.delete(id));
    sendText(socket, 'status', { status: { exec_info: { queue_remaining: queueRemaining } }, sid: id });
    return id;
  }

  send(clientId: string | null, type: string, data: Record<string, unknown>): void {
    if (clientId === null) return;
    const socket = this.#clients.get(clientId);
    if (socket) sendText(socket, type, data);
  }

  broadcastStatus(queueRemaining: number): void {
    for (const socket of this.#clients.values()) sendText(socket, 'status', { status: { exec_info: { queue_remaining: queueRemaining } } });
  }

  sendPreview(clientId: string | null, jpeg: Buffer): void {
    if (clientId === null) return;
    const header = Buffer.alloc(8);
    header.writeUInt32BE(PREVIEW_IMAGE_EVENT, 0);
    header.writeUInt32BE(JPEG_FORMAT, 4);
    const frame = Buffer.concat([header, jpeg]);
    const socket = this.#clients.get(clientId);
    if (socket && socket.readyState === socket.OPEN) socket.send(frame, { binary: true });
  }

  closeAll(): void {
    for (const socket of this.#clients.values()) socket.terminate();
    this.#clients.clear();
  }
}

function sendText(socket: WebSocket, type: string, data: Record<string, unknown>): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type, data }));
}
