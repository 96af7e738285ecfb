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
  const preValidation = async (request: FastifyRequest): Promise<void> => {
    const origin = request.headers.origin;
    if (origin !== undefined) {
      throw new DanError('DAN_ERR_NODE_ORIGIN', `a web page (Origin: ${origin.slice(0, 100)}) may not join as a node; attach GPUs with \`dan node\``);
    }
    if (!deps.hub.hasRoomForHello()) {
      throw new DanError('DAN_ERR_NODE_CONNECTIONS', `${deps.hub.awaitingHello} node connections are waiting to say hello, the most allowed; try again in a few seconds`);
    }
  };
  app.get(NODE_WS_PATH, { websocket: true, preValidation }, (socket, request) => {
    deps.hub.accept(socket, request.socket.remoteAddress ?? 'unknown');
  });
}
