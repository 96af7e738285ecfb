/**
 * @module network/node-route
 *
 * Mounts the node WebSocket endpoint on the gateway's HTTP server. The frame
 * size bound is enforced by `ws` itself: an oversized frame closes that
 * node's socket (1009) before it is buffered whole.
 *
 * Two refusals come before the upgrade, as HTTP errors:
 * - a request with an `Origin` header: browsers send one on every WebSocket,
 *   node agents none. Without this, any web page open on the gateway's
 *   machine could join a token-less gateway as a loopback node, read prompts
 *   and input images, and return any image (`DAN_ERR_NODE_ORIGIN`);
 * - more sockets waiting for their hello than the hub allows: each may hold
 *   a large frame in memory until its hello timeout (`DAN_ERR_NODE_CONNECTIONS`).
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DanError } from '../errors/dan-error.js';
import { NODE_WS_PATH } from '../protocol/messages.js';
import type { NodeHub } from './node-hub.js';

export async function registerNodeRoute(app: FastifyInstance, deps: { hub: NodeHub; maxFrameBytes: number }): Promise<void> {
  await app.register(websocket, { options: { maxPayload: deps.maxFrameBytes } });
  /** When silent connections were last said to be refused: once a minute, not once per connection. */
  let crowdSaidAt = 0;
  const preValidation = async (request: FastifyRequest): Promise<void> => {
    const origin = request.headers.origin;
    if (origin !== undefined) {
      throw new DanError('DAN_ERR_NODE_ORIGIN', `a web page (Origin: ${origin.slice(0, 100)}) may not join as a node; attach GPUs with \`dan node\``);
    }
    if (!deps.hub.hasRoomForHello()) {
      if (Date.now() - crowdSaidAt >= 60_000) {
        crowdSaidAt = Date.now();
        request.log.warn({ remoteAddress: request.socket.remoteAddress, waiting: deps.hub.awaitingHello }, 'refusing node connections: as many are open without a hello as the gateway allows (someone probing it, most likely)');
      }
      throw new DanError('DAN_ERR_NODE_CONNECTIONS', `${deps.hub.awaitingHello} node connections are waiting to say hello, the most allowed; try again in a few seconds`);
    }
  };
  app.get(NODE_WS_PATH, { websocket: true, preValidation }, (socket, request) => {
    // Until its hello, a socket may send only small frames: a stranger's silent socket must not hold
    // the results' 64 MiB. The hello lifts the bound to the results' one.
    setFrameLimit(socket, Math.min(PRE_HELLO_FRAME_BYTES, deps.maxFrameBytes));
    deps.hub.accept(socket, request.socket.remoteAddress ?? 'unknown', {
      welcomed: () => setFrameLimit(socket, deps.maxFrameBytes),
      bytesReceived: () => request.socket.bytesRead,
    });
  });
}

/** Largest frame before hello: a hello lists the node's models and LoRAs, a few hundred KiB for thousands of them. */
export const PRE_HELLO_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * Sets the largest frame `socket` may receive from now on. `ws` takes the bound per server only; its
 * receiver checks `_maxPayload` as each frame's header arrives (before buffering the frame), so setting
 * it per socket works. A test (node-protocol.test.ts) fails if a `ws` upgrade renames it.
 */
function setFrameLimit(socket: object, bytes: number): void {
  const receiver = (socket as { _receiver?: { _maxPayload?: number } })._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}
