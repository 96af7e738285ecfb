/**
 * A gateway played by the test, for the node agent: a real WebSocket server that records each
 * connection's hello and frames and sends what the test says (welcome, assign), and a backend driver
 * whose runs end when the test says. No gateway logic: the agent's side of the protocol, alone.
 */
import pino from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import type { NodeCapabilities } from '../../src/domain/capabilities.js';
import { DanError } from '../../src/errors/dan-error.js';
import { NodeAgent, type NodeAgentOptions } from '../../src/node/agent.js';
import type { BackendDriver } from '../../src/node/backend-driver.js';
import { type GatewayMessage, type HelloMessage, type NodeMessage, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { decodeResultFrame, type RelayedResultMessage } from '../../src/protocol/result-frame.js';
import { makeCapabilities } from './capabilities.js';
import { pngBytes } from './png-bytes.js';
import { txt2img } from './specs.js';

export interface FakeConnection {
  socket: WebSocket;
  hello: HelloMessage;
  /** Frames after the hello, results decoded. */
  frames: (NodeMessage | RelayedResultMessage)[];
}

export interface FakeGateway {
  url: string;
  connections: FakeConnection[];
  /** The next connection to say hello (or one that did and was not asked for yet). */
  nextConnection(): Promise<FakeConnection>;
  welcome(connection: FakeConnection, options?: { heartbeatMs?: number; graceMs?: number; resumed?: string[]; protocol?: number }): void;
  /** Refuses the connection's hello as a gateway does: a `reject` frame, then the close (`code`). */
  reject(connection: FakeConnection, error: string, message: string, code: number): void;
  assign(connection: FakeConnection, taskId: string, attempt?: number): void;
  /** Whether `taskId` got an answer (result or failure, of `attempt` when given) on any connection. */
  answered(taskId: string, attempt?: number): boolean;
  close(): Promise<void>;
}

export async function startFakeGateway(): Promise<FakeGateway> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const connections: FakeConnection[] = [];
  let asked = 0;
  const waiting: (() => void)[] = [];
  server.on('connection', (socket) => {
    let connection: FakeConnection | undefined;
    socket.on('message', (data, isBinary) => {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      const message = isBinary ? decodeResultFrame(bytes) : (JSON.parse(bytes.toString()) as NodeMessage);
      if (!connection) {
        if (message.type !== 'hello') return;
        connection = { socket, hello: message, frames: [] };
        connections.push(connection);
        waiting.splice(0).forEach((wake) => wake());
        return;
      }
      connection.frames.push(message);
    });
  });
  const { port } = server.address() as { port: number };
  const send = (connection: FakeConnection, message: GatewayMessage) => connection.socket.send(JSON.stringify(message));
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    async nextConnection() {
      while (connections.length <= asked) await new Promise<void>((resolve) => waiting.push(resolve));
      return connections[asked++]!;
    },
    welcome(connection, options = {}) {
      const { heartbeatMs = 100, graceMs = 10_000, resumed = [], protocol = PROTOCOL_VERSION } = options;
      send(connection, { type: 'welcome', protocol, nodeId: `node-${connections.indexOf(connection)}`, heartbeatIntervalMs: heartbeatMs, resumeGraceMs: graceMs, resumed });
    },
    reject(connection, error, message, code) {
      send(connection, { type: 'reject', error, message });
      connection.socket.close(code, message.slice(0, 120));
    },
    assign(connection, taskId, attempt = 1) {
      send(connection, { type: 'assign', taskId, attempt, spec: txt2img(), binding: {}, timeoutMs: 60_000 });
    },
    answered(taskId, attempt) {
      return connections.some((c) => c.frames.some((f) => (f.type === 'result' || f.type === 'failure') && f.taskId === taskId && (attempt === undefined || f.attempt === attempt)));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/**
 * A WebUI driver whose runs end when the test says (`finishAll`), at once (`instant`), or fail once (`failNext`);
 * with `ignoresAbort`, a run given up still ends with its image (a WebUI that finished before it heard).
 */
export function heldDriver(capabilities: NodeCapabilities = makeCapabilities()) {
  const pending: (() => void)[] = [];
  const png = pngBytes(8, 8).toString('base64');
  const state = { instant: false, failNext: false, ignoresAbort: false };
  const driver: BackendDriver = {
    kind: 'a1111',
    discover: async () => ({ capabilities, loadedModel: null }),
    interrupt: async () => {},
    run: (_spec, _binding, options) =>
      new Promise((resolve, reject) => {
        const outcome = { result: { kind: 'images' as const, images: [png], seeds: [1] }, loadedModel: null };
        if (state.failNext) {
          state.failNext = false;
          return reject(new DanError('DAN_ERR_BACKEND_FAILED', 'CUDA out of memory'));
        }
        if (state.instant) return resolve(outcome);
        if (!state.ignoresAbort) options?.signal?.addEventListener('abort', () => reject(options.signal!.reason as Error));
        pending.push(() => resolve(outcome));
      }),
  };
  return { driver, state, finishAll: () => pending.splice(0).forEach((finish) => finish()) };
}

/** A node agent of the fake gateway, reconnecting within tens of milliseconds. */
export function agentOf(gateway: FakeGateway, driver: BackendDriver, options: Partial<NodeAgentOptions> = {}): NodeAgent {
  return new NodeAgent({ gatewayUrl: gateway.url, name: 'gpu', token: null, driver, log: pino({ level: 'silent' }), reconnectMinMs: 20, reconnectMaxMs: 40, ...options });
}
