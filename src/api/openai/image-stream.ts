/**
 * @module api/openai/image-stream
 *
 * `stream: true` on `/v1/images/generations` and `/v1/images/edits`: the answer
 * is Server-Sent Events as OpenAI's images API sends them, which the official
 * SDKs read as an async iterable of events (`for await (const event of stream)`).
 *
 * - `image_generation.partial_image` (edits: `image_edit.partial_image`): up to
 *   `partial_images` of the node's live previews of the image as it is made,
 *   spread over its progress (`partialImages`), numbered by
 *   `partial_image_index`; where the backend makes previews (a few seconds
 *   apart), so a short task may end before its first, as OpenAI's may.
 * - `image_generation.completed` (`image_edit.completed`): each image as its
 *   task ends, in `b64_json`; `n` images come as n such events, in the order
 *   their tasks end. Their `usage` counts no tokens: DAN has none to count.
 * - `error`: `{type: "error", error: {message, type, param, code}}` as the
 *   gateway's error answers have it, when a task fails or the wait ends (the
 *   sync timeout, the gateway stopping); the stream ends there and the other
 *   tasks go on. The SDK raises it as an `APIError`.
 *
 * Errors found before any task is stored (a field, the task budget, the key)
 * are ordinary answers, as without `stream`. The stream sends a comment every
 * 15 s while nothing else happens, as the task event stream does, for proxies
 * that close quiet connections. A client that hangs up leaves its tasks going on.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sniffImageFormat } from '../../domain/image-format.js';
import { DanError } from '../../errors/dan-error.js';
import type { TaskService } from '../../gateway/task-service.js';
import type { Base64Image } from '../../util/base64-image.js';
import { toJsonBuffer } from '../../util/json-buffer.js';
import { taskFailed, waitEnded } from '../front-doors/run-tasks.js';
import { clientGone } from '../routes/client-gone.js';
import { openEventStream } from '../routes/event-stream.js';
import { openAiErrorOf } from './openai-errors.js';
import type { StreamAsk } from './openai-requests.js';

export interface StreamDeps {
  service: TaskService;
  /** How long the stream waits for its tasks (the gateway's `--sync-timeout-s`). */
  syncTimeoutMs: number;
  /** How often a quiet stream gets a comment line. @defaultValue `STREAM_HEARTBEAT_MS` */
  streamHeartbeatMs?: number;
}

/** What the events say of the request: which endpoint's events, and the size and settings they repeat. */
export interface StreamShape extends StreamAsk {
  /** `image_generation` or `image_edit`: the prefix of the event types. */
  prefix: 'image_generation' | 'image_edit';
  /** `WIDTHxHEIGHT` of the images. */
  size: string;
  /** The request came with an Idempotency-Key: the error of a stopping gateway says to send it again with it. */
  keyed: boolean;
}

/** Quiet this long, a stream gets a comment line (proxies close connections idle for a minute or so). */
export const STREAM_HEARTBEAT_MS = 15_000;

/** DAN counts no tokens; OpenAI's completed events carry a `usage` all the same (the SDK's types want one). */
const NO_TOKENS = { input_tokens: 0, input_tokens_details: { image_tokens: 0, text_tokens: 0 }, output_tokens: 0, total_tokens: 0 };

/** Streams the images of the tasks `ids` (stored for this request) as they come, then ends the answer. */
export async function streamImages(deps: StreamDeps, ids: readonly string[], shape: StreamShape, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { service } = deps;
  // The waits end when the client hangs up (its tasks go on), and when the stream does (an error ends it).
  const gone = clientGone(reply);
  const stop = new AbortController();
  gone.addEventListener('abort', () => stop.abort(), { once: true });
  const raw = openEventStream(reply);
  const send = (type: string, fields: object) => {
    if (stop.signal.aborted || raw.destroyed) return;
    raw.write(`event: ${type}\ndata: `);
    raw.write(toJsonBuffer({ type, ...fields }));
    raw.write('\n\n');
  };
  const told = () => ({ created_at: Math.floor(Date.now() / 1000), size: shape.size, quality: shape.quality, background: shape.background });
  let heartbeat: NodeJS.Timeout | undefined;
  let unwatch = () => {};
  const waiting = new Set(ids);
  try {
    heartbeat = setInterval(() => {
      // Ends itself with the answer, whatever else happens (`finally` clears it too).
      if (raw.writableEnded || raw.destroyed) clearInterval(heartbeat);
      else raw.write(': keep-alive\n\n');
    }, deps.streamHeartbeatMs ?? STREAM_HEARTBEAT_MS);
    // Partial images follow one image (openai-requests.ts refuses them with n > 1).
    if (shape.partialImages > 0 && ids.length === 1) unwatch = service.watch(ids[0]!, partialImages(service, ids[0]!, shape.partialImages, (preview, index) => send(`${shape.prefix}.partial_image`, { b64_json: preview, partial_image_index: index, ...told(), output_format: formatOf(preview) })));
    await Promise.all(
      ids.map(async (id) => {
        const outcome = await service.waitForOutcome(id, deps.syncTimeoutMs, stop.signal);
        if (stop.signal.aborted) return;
        if (outcome === null) throw waitEnded(deps, [...waiting], shape.keyed);
        waiting.delete(id);
        if (outcome.state !== 'succeeded') throw taskFailed(outcome, ids.length);
        if (outcome.result.kind !== 'images') throw new DanError('DAN_ERR_INTERNAL', `task ${id} answered no image`);
        for (const image of outcome.result.images) send(`${shape.prefix}.completed`, { b64_json: image, ...told(), output_format: formatOf(image), usage: NO_TOKENS });
      }),
    );
  } catch (error) {
    send('error', openAiErrorOf(error, request).body);
  } finally {
    if (gone.aborted) request.log.info({ tasks: ids }, 'client left before its tasks were done; they go on');
    stop.abort();
    unwatch();
    clearInterval(heartbeat);
    raw.end();
  }
}

/**
 * A watcher of task `id` that hands `send` up to `count` of its live previews, spread over the run as
 * OpenAI's partial images are: the k-th (from 0) is the first preview made past (k + 1) / (count + 1) of the
 * task's progress (one at a half for one; a third and two thirds for two), not the first few, which show
 * little but noise.
 */
function partialImages(service: TaskService, id: string, count: number, send: (image: string, index: number) => void): () => void {
  let sent = 0;
  let seen = 0;
  return () => {
    const preview = service.previewOf(id);
    if (!preview || preview.seq === seen || sent >= count) return;
    seen = preview.seq;
    if (preview.progress < (sent + 1) / (count + 1)) return;
    send(preview.image, sent++);
  };
}

/** `png`, `jpeg` or `webp`, as the image's bytes say (a WebUI's previews are often JPEG); `png` when they say none of these. */
function formatOf(image: string | Base64Image): string {
  const head = typeof image === 'string' ? Buffer.from(image.slice(0, 16), 'base64') : image.bytes;
  const format = sniffImageFormat(head);
  return format === 'jpeg' || format === 'webp' ? format : 'png';
}
