/**
 * @module network/node-route
 *
 * Mounts the node WebSocket endpoint on the gateway's HTTP server. The frame
 * size bound is enforced by `ws` itself: an oversized frame closes that
 * node's socket (1009) before it is buffered whole.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { NODE_WS_PATH } from '../protocol/messages.js';
import type { NodeHub } from './node-hub.js';

export async function registerNodeRoute(app: FastifyInstance, deps: { hub: NodeHub; maxFrameBytes: number }): Promise<void> {
  await app.register(websocket, { options: { maxPayload: deps.maxFrameBytes } });
  app.get(NODE_WS_PATH, { websocket: true }, (socket, request) => {
    deps.hub.accept(socket, request.socket.remoteAddress ?? 'unknown');
  });
}
