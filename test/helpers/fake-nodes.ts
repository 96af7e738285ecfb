/**
 * The gateway's core in one process, with nodes played by the test: the real
 * NodeHub, Dispatcher and SQLite store (in memory), a FakeClock, and sockets
 * that a test drives frame by frame. No ports, no sleeps: time moves when the
 * test says, and every wait is for a frame or a state.
 */
import { outputSizeOf } from '../../src/domain/spec.js';
import { createWebhooks } from '../../src/gateway/task-webhooks.js';
import type { DeliveryStore } from '../../src/webhooks/delivery-store.js';
import type { WebhookOutbox } from '../../src/webhooks/webhook-outbox.js';
import { defaultKeyLimits } from '../../src/auth/api-key.js';
import { anonymousCaller, type Caller } from '../../src/auth/caller.js';
import { EventEmitter } from 'node:events';
import type { NodeCapabilities } from '../../src/domain/capabilities.js';
import type { GenerationSpec } from '../../src/domain/spec.js';
import { Dispatcher, type DispatcherOptions } from '../../src/gateway/dispatcher.js';
import { createNodeDirectory, type NodeDirectory } from '../../src/gateway/node-directory.js';
import { NetworkActivity, observeActivity } from '../../src/gateway/network-activity.js';
import { createNetworkView, type NetworkView } from '../../src/gateway/network-view.js';
import { TaskService } from '../../src/gateway/task-service.js';
import type { TaskView } from '../../src/gateway/task-view.js';
import { NodeHub } from '../../src/network/node-hub.js';
import type { NodeSocket } from '../../src/network/node-session.js';
import { type AssignMessage, type GatewayMessage, NODE_STOPPING_REASON, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { encodeResultFrame, type ResultMessage } from '../../src/protocol/result-frame.js';
import { SqliteDeliveryStore } from '../../src/store/sqlite/sqlite-delivery-store.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { HOUR, MINUTE } from '../../src/util/clock.js';
import { toJsonBuffer } from '../../src/util/json-buffer.js';
import type { Logger } from '../../src/util/logger.js';
import { makeCapabilities } from './capabilities.js';
import { pngBytes } from './png-bytes.js';
import { FakeClock } from './fake-clock.js';
import { txt2img } from './specs.js';

/** A 1×1 PNG. */
export const TINY_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

const pngsBySize = new Map<string, string>();

/** A black RGB PNG of `width`×`height`, base64 (made once per size): the image fake nodes answer a task with. */
export function pngOfSize(width: number, height: number): string {
  const key = `${width}x${height}`;
  let png = pngsBySize.get(key);
  if (png === undefined) {
    png = pngBytes(width, height).toString('base64');
    pngsBySize.set(key, png);
  }
  return png;
}

/** The 512×512 PNG fake nodes answer a default txt2img task with. */
export const PNG_512 = pngOfSize(512, 512);

/** A logger that keeps what it was told, for tests that check what operators would read. */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string; fields: object }[] = [];
  readonly debug = this.#at('debug');
  readonly info = this.#at('info');
  readonly warn = this.#at('warn');
  readonly error = this.#at('error');

  #at(level: string) {
    return (fields: object, message = '') => void this.lines.push({ level, message, fields });
  }
}

/** The gateway's end of a fake node's connection: what the hub reads from and writes to. */
class FakeSocket extends EventEmitter implements NodeSocket {
  readonly OPEN = 1;
  readyState = 1;

  constructor(readonly deliver: (message: GatewayMessage) => void) {
    super();
  }

  send(data: Buffer): void {
    this.deliver(JSON.parse(data.toString()) as GatewayMessage);
  }

  close(code: number, reason: string): void {
    if (this.readyState !== this.OPEN) return;
    this.readyState = 3;
    this.emit('close', code, Buffer.from(reason));
  }

  terminate(): void {
    this.close(1006, '');
  }
}

/** One node, played by the test: it says what a node agent would, and keeps what the gateway sent it. */
export class FakeNode {
  readonly socket: FakeSocket;
  readonly received: GatewayMessage[] = [];
  readonly #waiting: { match: (m: GatewayMessage) => boolean; resolve: (m: GatewayMessage) => void }[] = [];

  constructor(readonly name: string) {
    this.socket = new FakeSocket((message) => this.#deliver(message));
  }

  #deliver(message: GatewayMessage): void {
    this.received.push(message);
    const index = this.#waiting.findIndex((w) => w.match(message));
    if (index >= 0) this.#waiting.splice(index, 1)[0]!.resolve(message);
  }

  /** The first frame (already received or still to come) that matches. */
  next<T extends GatewayMessage>(match: (m: GatewayMessage) => m is T): Promise<T> {
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiting.push({ match, resolve: resolve as (m: GatewayMessage) => void }));
  }

  /** The assignment of `taskId` (its `attempt`-th, when given), received or to come. */
  assignment(taskId: string, attempt?: number): Promise<AssignMessage> {
    return this.next((m): m is AssignMessage => m.type === 'assign' && m.taskId === taskId && (attempt === undefined || m.attempt === attempt));
  }

  assignments(): AssignMessage[] {
    return this.received.filter((m): m is AssignMessage => m.type === 'assign');
  }

  cancels(): string[] {
    return this.received.flatMap((m) => (m.type === 'cancel' ? [m.taskId] : []));
  }

  #text(message: object): void {
    this.socket.emit('message', Buffer.from(JSON.stringify(message)), false);
  }

  /**
   * `nodeKey`: the key it keeps; by default one derived from its name (the same node each time it connects).
   * `prefetch`: tasks it holds ready beyond its slots.
   */
  /** `returning`: the protocol version it speaks, and the attempts of an earlier connection it names (`resume`). */
  hello(capabilities: NodeCapabilities, slots = 1, nodeKey = fakeNodeKey(this.name), prefetch = 0, returning: { protocol?: number; resume?: { taskId: string; attempt: number }[] } = {}): void {
    const loadedModel = capabilities.models[0]?.title ?? null;
    const { protocol = PROTOCOL_VERSION, resume } = returning;
    this.#text({
      type: 'hello', protocol, name: this.name, token: null, nodeKey, agent: 'fake-node', slots, prefetch, capabilities,
      backendUp: true, backendProblem: null, loadedModel, draining: false, measured: { unitsPerSecond: 20, switchSeconds: 2 },
      ...(resume === undefined ? {} : { resume }),
    });
  }

  /** The attempt of the task this node was sent last: what a node agent answers for. */
  #attemptOf(taskId: string): number {
    return this.assignments().findLast((a) => a.taskId === taskId)?.attempt ?? 1;
  }

  /** Answers the task as its backend would: an image of the task's size (its seed, for txt2img and img2img), or a caption. */
  succeed(taskId: string, elapsedMs = 1000, attempt = this.#attemptOf(taskId), loadMs?: number): void {
    const spec = this.assignments().findLast((a) => a.taskId === taskId)?.spec;
    const size = spec ? outputSizeOf(spec) : { width: 512, height: 512 };
    const seeds = spec?.kind === 'upscale' ? [] : [1];
    const result: ResultMessage['result'] = spec?.kind === 'interrogate' ? { kind: 'caption', caption: 'a fox' } : { kind: 'images', images: [pngOfSize(size!.width, size!.height)], seeds };
    this.answer(taskId, result, { elapsedMs, attempt, ...(loadMs === undefined ? {} : { loadMs }) });
  }

  /** A result frame with the given result: images and seeds, or a caption; `loadMs`: a checkpoint load timed apart. */
  answer(taskId: string, result: ResultMessage['result'], options: { elapsedMs?: number; attempt?: number; loadMs?: number } = {}): void {
    const { elapsedMs = 1000, attempt = this.#attemptOf(taskId), loadMs } = options;
    const load = loadMs === undefined ? {} : { loadMs };
    this.socket.emit('message', encodeResultFrame({ type: 'result', taskId, attempt, result, loadedModel: null, elapsedMs, ...load }), true);
  }

  /** A progress frame; `preview`: a live preview image (base64). */
  progress(taskId: string, progress: number, etaSeconds: number | null = null, preview?: string): void {
    this.#text({ type: 'progress', taskId, attempt: this.#attemptOf(taskId), progress, etaSeconds, ...(preview === undefined ? {} : { preview }) });
  }

  /** A heartbeat saying the node's WebUI is up or down (`problem` says why). */
  backend(up: boolean, problem: string | null = null): void {
    this.#text({ type: 'heartbeat', backendUp: up, backendProblem: problem, loadedModel: null, draining: false, measured: null });
  }

  fail(taskId: string, error: string, message: string, attempt = this.#attemptOf(taskId)): void {
    this.#text({ type: 'failure', taskId, attempt, error, message, retryable: true });
  }

  /** The connection drops, as a network cut or a killed process does: a node of protocol 4 may come back for its tasks. */
  disconnect(): void {
    this.socket.close(1006, 'gone');
  }

  /** The node agent stops (closing with 1001, its tasks given up): what it ran is lost at once. */
  leave(): void {
    this.socket.close(1001, NODE_STOPPING_REASON);
  }
}

export interface CoreWorld {
  clock: FakeClock;
  store: TaskStore;
  hub: NodeHub;
  dispatcher: Dispatcher;
  nodes: NodeDirectory;
  /** The dashboard's view of the network (`GET /api/network`). */
  network: NetworkView;
  service: TaskService;
  log: RecordingLogger;
  /** The task's status document, as the API answers it (from memory, or from the store once finished). */
  status(id: string): Promise<TaskView>;
  /** Lets the work the last event started (store writes, the passes they trigger) run, without moving the clock. */
  settle(): Promise<void>;
  /** Connects a node that offers `capabilities` (the catalog's, by default); `nodeKey` as FakeNode.hello. */
  connect(name: string, capabilities?: NodeCapabilities, slots?: number, nodeKey?: string, prefetch?: number): FakeNode;
  /** Webhooks (gateway/task-webhooks.ts), sent to any address (private ones too). */
  outbox: WebhookOutbox;
  deliveries: DeliveryStore;
  /** Where the outbox finds a key's webhook secret. @defaultValue none (webhooks fail) */
  setWebhookSecrets(lookup: (owner: string) => string | null): void;
  /** The SQLite store under `store` (the key store shares its connection). */
  sqlite: SqliteTaskStore;
  /** Submits a task (a 512² txt2img by default) as the routes would, for `owner` (anonymous by default); resolves with its id. */
  submit(spec?: GenerationSpec, owner?: string): Promise<string>;
  close(): Promise<void>;
}

let nextId = 0;

/** A node key (protocol `nodeKey`) derived from a name: the same fake node gets the same key. */
export function fakeNodeKey(name: string): string {
  return Buffer.from(`fake-node-key:${name}`).toString('base64url').padEnd(32, 'A');
}

/** An anonymous caller without limits: sees every anonymous task (all the tasks `submit` makes by default). */
export const TEST_CALLER: Caller = anonymousCaller('127.0.0.1', { ...defaultKeyLimits, maxTasks: 0, requestsPerMinute: 0 });

/** The core with a fake clock and an in-memory store; `store` wraps it when a test needs a store that fails. */
export function createCoreWorld(
  options: Partial<Omit<DispatcherOptions, 'hub' | 'clock' | 'log' | 'store'>> & {
    store?: (inner: TaskStore) => TaskStore;
    resumeGraceMs?: number;
    /** The hub's heartbeat interval, for a test of the liveness check (nodes then must send heartbeats). @defaultValue a day */
    heartbeatIntervalMs?: number;
  } = {},
): CoreWorld {
  const clock = new FakeClock();
  const log = new RecordingLogger();
  const inner = new SqliteTaskStore(':memory:');
  const store = options.store ? options.store(inner) : inner;
  // Heartbeats are not played by default: nodes stay alive however far a test moves the clock.
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 24 * HOUR;
  const hub = new NodeHub({ nodeToken: null, heartbeatIntervalMs, log, clock, ...(options.resumeGraceMs === undefined ? {} : { resumeGraceMs: options.resumeGraceMs }) });
  const { store: _wrap, resumeGraceMs: _grace, heartbeatIntervalMs: _heartbeat, ...dispatcherOptions } = options;
  const activity = new NetworkActivity(() => clock.now());
  const seen = observeActivity(activity, () => clock.now());
  const dispatcher = new Dispatcher({
    maxAttempts: 3,
    taskTimeoutMs: 10 * MINUTE,
    unservableGraceMs: 2 * MINUTE,
    observer: {
      ...seen,
      finished: (taskId, kind, state, task) => {
        seen.finished(taskId, kind, state, task);
        void webhookParts.outbox.taskEnded(taskId);
      },
    },
    ...dispatcherOptions,
    store,
    hub,
    clock,
    log,
  });
  // Webhooks as the gateway wires them, on the world's clock; secrets from the test (setWebhookSecrets).
  let secretOf: (owner: string) => string | null = () => null;
  const webhookParts = createWebhooks({
    deliveries: new SqliteDeliveryStore(inner.connection),
    clock,
    log,
    secretOf: (owner) => secretOf(owner),
    allowPrivate: true,
    view: (id) => service.view(id),
    watch: (id, listener) => dispatcher.watch(id, listener),
  });
  const service = new TaskService({ dispatcher, store, nodes: () => hub.sessions.values(), now: () => clock.now(), webhooks: webhookParts.webhooks });
  return {
    outbox: webhookParts.outbox,
    deliveries: webhookParts.deliveries,
    setWebhookSecrets(lookup) {
      secretOf = lookup;
    },
    clock,
    store,
    hub,
    dispatcher,
    nodes: createNodeDirectory({ hub, scheduler: dispatcher.scheduler, clock, activity }),
    // The world's clock for the one-second keep too: a test moves it.
    network: createNetworkView({ scheduler: dispatcher.scheduler, load: () => service.load(), activity, clock, elapsed: () => clock.now() }),
    service,
    log,
    // As a client reads it: images held as bytes become base64 text.
    status: async (id) => JSON.parse(toJsonBuffer(await service.status(id, TEST_CALLER)).toString('utf8')) as TaskView,
    sqlite: inner,
    // The dispatcher's passes after results, submits and node changes wait for an immediate (real time).
    settle: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await clock.advance(0);
    },
    connect(name, capabilities = makeCapabilities(), slots = 1, nodeKey = fakeNodeKey(name), prefetch = 0) {
      const node = new FakeNode(name);
      hub.accept(node.socket, '127.0.0.1');
      node.hello(capabilities, slots, nodeKey, prefetch);
      return node;
    },
    async submit(spec = txt2img(), owner = TEST_CALLER.owner) {
      const id = `task-${++nextId}`;
      await dispatcher.submit({ id, kind: spec.kind, spec, owner, maxTasks: 0 });
      return id;
    },
    async close() {
      hub.close();
      await dispatcher.close();
      await webhookParts.outbox.close();
      await inner.close();
    },
  };
}
