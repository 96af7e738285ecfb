/**
 * @module node/backends/comfyui/prompt-watch
 *
 * Follows one prompt on ComfyUI's websocket (`/ws?clientId=`): which node runs
 * and since when, sampler steps (`progress`), previews (binary frames: event 1,
 * image format 1 = JPEG / 2 = PNG, then the image), and how the prompt ended
 * (`executing` with node null after `execution_success`, or
 * `execution_error` / `execution_interrupted`). Events may arrive before the
 * prompt's id is known (the prompt can start before `POST /prompt` answers),
 * so they are kept until `follow(promptId)` names it. If the socket drops, the
 * watch says so and the driver reads the outcome from `/history` instead.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { DanError } from '../../../errors/dan-error.js';
import type { Clock } from '../../../util/clock.js';

const PREVIEW_IMAGE_EVENT = 1;
const MAX_EARLY_EVENTS = 1000;

export interface WatchEvents {
  /** A node started running (`at`: the clock's ms). */
  node: [node: string, at: number];
  progress: [node: string, value: number, max: number];
  preview: [image: Buffer];
  /** The prompt ended: `success`, `error` (ComfyUI's `execution_error` data) or `interrupted`. */
  end: [outcome: PromptEnd];
  /** The socket closed before the prompt ended. */
  lost: [];
}

export type PromptEnd = { kind: 'success' } | { kind: 'error'; data: Record<string, unknown> } | { kind: 'interrupted' };

type Message = { type: string; data: Record<string, unknown> };
/** A message and when it arrived: events replayed later keep their own time (a loader's run time is timed from them). */
type Received = { message: Message; at: number };

export class PromptWatch extends EventEmitter<WatchEvents> {
  readonly #socket: WebSocket;
  readonly #clock: Clock;
  #promptId: string | null = null;
  readonly #early: Received[] = [];
  #ended = false;
  #lost = false;

  private constructor(socket: WebSocket, clock: Clock) {
    super();
    this.#socket = socket;
    this.#clock = clock;
    socket.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    socket.on('close', () => {
      if (this.#ended) return;
      // Kept, not only told: the socket may drop before anyone listens.
      this.#lost = true;
      this.emit('lost');
    });
    socket.on('error', () => {});
  }

  /** Opens the socket for `clientId`; throws DAN_ERR_BACKEND_UNREACHABLE when it cannot. */
  static async open(baseUrl: string, clientId: string, clock: Clock, headers: Record<string, string>, timeoutMs: number): Promise<PromptWatch> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/ws?clientId=${encodeURIComponent(clientId)}`;
    const socket = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', (error) => reject(new DanError('DAN_ERR_BACKEND_UNREACHABLE', `ComfyUI at ${baseUrl} has no websocket at /ws (${error.message})`, { cause: error })));
      socket.once('unexpected-response', (request, response) => {
        // With this listener, ws leaves the request to us: it would linger until the handshake timeout.
        request.destroy();
        reject(new DanError('DAN_ERR_BACKEND_UNREACHABLE', `ComfyUI at ${baseUrl} refused the websocket /ws with HTTP ${response.statusCode ?? '?'}`));
      });
    });
    return new PromptWatch(socket, clock);
  }

  /** Names the prompt to follow; events already received for it are replayed. */
  follow(promptId: string): void {
    this.#promptId = promptId;
    for (const { message, at } of this.#early.splice(0)) this.#onEvent(message, at);
  }

  /** Whether the socket closed before the prompt ended: its end must be asked of ComfyUI then. */
  get lost(): boolean {
    return this.#lost;
  }

  close(): void {
    this.#ended = true;
    this.#socket.close();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (this.#promptId === null || data.length < 8 || data.readUInt32BE(0) !== PREVIEW_IMAGE_EVENT) return;
      // Previews carry no prompt id; while our prompt runs, ComfyUI runs nothing else.
      this.emit('preview', data.subarray(8));
      return;
    }
    let message: Message;
    try {
      message = JSON.parse(data.toString('utf8')) as Message;
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null || typeof message.data !== 'object' || message.data === null) return;
    const at = this.#clock.now();
    if (this.#promptId === null) {
      if (this.#early.length < MAX_EARLY_EVENTS) this.#early.push({ message, at });
      return;
    }
    this.#onEvent(message, at);
  }

  #onEvent({ type, data }: Message, at: number): void {
    if (data['prompt_id'] !== this.#promptId || this.#ended) return;
    switch (type) {
      case 'executing':
        if (typeof data['node'] === 'string') this.emit('node', data['node'], at);
        // The "done" marker; after an error or interrupt the prompt has ended already.
        else if (data['node'] === null) this.#end({ kind: 'success' });
        break;
      case 'progress':
        if (typeof data['value'] === 'number' && typeof data['max'] === 'number') this.emit('progress', String(data['node']), data['value'], data['max']);
        break;
      case 'execution_error':
        this.#end({ kind: 'error', data });
        break;
      case 'execution_interrupted':
        this.#end({ kind: 'interrupted' });
        break;
      case 'execution_success':
        this.emit('node', '', at);
        break;
    }
  }

  #end(outcome: PromptEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit('end', outcome);
  }
}
