/**
 * @module node/agent
 *
 * The node agent: dials out to the gateway (so a GPU behind NAT can join),
 * declares what its backend offers, runs assigned tasks through the backend
 * driver, relays progress, and answers each assignment with exactly one result
 * or failure. States of the connection:
 *
 *   connecting ──open──▶ hello sent ──welcome──▶ serving ──close──▶ waiting (backoff) ──▶ connecting
 *                                    └─reject──▶ stopped (a wrong token will not fix itself)
 *
 * The backend is watched separately: when the WebUI stops answering the agent
 * says so in a heartbeat (the gateway then sends no work) and probes until it
 * is back.
 *
 * A dropped connection does not stop the work: tasks run on, and an answer that
 * finds no connection waits for the next one. The hello after a drop names what
 * the node still holds; the gateway's welcome says which it still waits for
 * (it waits `resumeGraceMs`), and the rest is given up. An answer sent just
 * before a silent drop may never have arrived: it is kept until the gateway
 * answers a ping sent after it, and named again if the connection drops first.
 */
import { DAN_VERSION } from '../util/version.js';
import { generateNodeKey } from './node-key.js';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { NODE_PROTOCOLS, NODE_STOPPING_REASON, REPLACED_CLOSE_CODE, type AssignMessage, type HelloMessage, type NodeMessage, parseGatewayMessage } from '../protocol/messages.js';
import { sniffImageFormat } from '../domain/image-format.js';
import { NodeEstimates, runSeconds } from '../domain/speed-estimates.js';
import { PRIOR_STEP_COSTS, workUnitsOf } from '../domain/work-units.js';
import type { TaskResult } from '../domain/spec.js';
import { DanError, toDanError } from '../errors/dan-error.js';
import { encodeResultFrame } from '../protocol/result-frame.js';
import { capabilitiesFor, carriesMoreThanHello } from './capabilities-by-protocol.js';
import type { BackendKind } from '../domain/capabilities.js';
import type { BackendDriver, BackendSnapshot } from './backend-driver.js';
import { commaList } from '../util/comma-list.js';
import { WakeWatch } from '../util/wake-watch.js';
import { toGatewaySocketUrl } from './gateway-url.js';
import { hintFor } from './connection-hints.js';
import { type Answer, HeldAnswers } from './held-answers.js';

export interface NodeAgentOptions {
  /**
   * The gateway, or several gateways of one network separated by commas: when the connection to one
   * closes or cannot be made, the node tries the next at once; only after trying them all does it back off.
   */
  gatewayUrl: string;
  name: string;
  token: string | null;
  /** The key the node keeps across restarts (node-key.ts). @defaultValue a new one (the node is new to the gateway) */
  nodeKey?: string;
  /** Tasks run at once; A1111 runs one job at a time. @defaultValue 1 */
  slots?: number;
  /**
   * Tasks taken beyond `slots` and held ready: one starts the moment a slot frees. Sent a result, the
   * gateway answers with the next task, and a fast GPU would stand idle for that round trip on every
   * task. @defaultValue 0
   */
  prefetch?: number;
  driver: BackendDriver;
  log: Logger;
  /** How often to re-read the backend's offerings while it is up. @defaultValue 60 s */
  refreshIntervalMs?: number;
  /** How often to probe a backend that is down. @defaultValue 5 s */
  probeIntervalMs?: number;
  /** Reconnect backoff bounds. @defaultValue 500 ms … 30 s */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Largest frame accepted from the gateway (assignments carry input images). @defaultValue 256 MiB */
  maxFrameBytes?: number;
  /**
   * Longest a connection may take from its start to the gateway's welcome; then it is ended and made
   * again (a cut during the handshake that closes nothing). @defaultValue 15 s
   */
  welcomeTimeoutMs?: number;
  /**
   * Longest the node carries work through a dropped connection with no gateway to tell it whether the work is
   * still wanted (a welcome does): the bound on the memory its answers hold, not a guess of the gateway's
   * wait. At least 1.5 × the gateway's resume grace. @defaultValue 10 min
   */
  carryLimitMs?: number;
}

export interface AgentEvents {
  /** `resumed`: tasks of an earlier connection the gateway still waits for (their answers follow on this one). */
  welcomed: [nodeId: string, resumed: readonly string[]];
  rejected: [message: string];
  disconnected: [code: number];
  'task:received': [taskId: string];
  /** The result frame is built and about to be handed to the socket (timing: `npm run bench`). */
  'task:sending': [taskId: string];
  'task:settled': [taskId: string, ok: boolean];
  'backend:changed': [up: boolean];
  /** Work carried through a dropped connection was taken up by a welcome, or given up. */
  'held:released': [];
}

const AGENT_VERSION = `dan-node/${DAN_VERSION}`;
const SELF = 'self';

/** The close code of a gateway shutting down (network/node-hub.ts): a restart, most likely. */
const GATEWAY_STOPPING = 1001;
/** The gateway's close of a connection that said no hello in time. */
const HELLO_TIMEOUT_CLOSE = 4003;
/** A second replacement of a live connection within this time means another process is this node. */
const REPLACED_AGAIN_MS = 60_000;
/** After such a close, for this long, a reconnect is tried at least every `RESTART_RETRY_MS`. */
const RESTART_WINDOW_MS = 2 * 60_000;
const RESTART_RETRY_MS = 2_000;
/**
 * A gateway that answered no ping (and sent nothing) for this many heartbeat intervals is taken as gone: a
 * pong comes within milliseconds, and the gateway's wait for a node that dropped (its resume grace, 20 s by
 * default) must outlast the node's noticing (two to three intervals, 10–15 s by default) and its return.
 */
const SILENT_INTERVALS = 2;
/** A timer longer than this fires at once (Node's setTimeout). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** While it carries work through a drop, the node tries its gateway again at least this often, within its grace. */
const CARRY_RETRY_MS = 1_000;
/** Longest a try to connect may take, up to its welcome, while the node carries work within the gateway's grace. */
const CARRY_WELCOME_TIMEOUT_MS = 3_000;
/** The node carries work through a drop at least this many times the gateway's grace. */
const CARRY_MARGIN = 1.5;
/**
 * How long a stopping node that runs nothing more waits, while its connection is down, to deliver answers
 * it holds: a link that merely dropped is back within a second or two; a gateway that is stopping too (an
 * operator stopping everything at once) would hold the node for the whole carry, and the gateway asks
 * again for what it does not have (the task runs again).
 */
const DRAIN_ANSWERS_WAIT_MS = 5_000;

export class NodeAgent extends EventEmitter<AgentEvents> {
  readonly #options: Required<Omit<NodeAgentOptions, 'token' | 'nodeKey'>> & { token: string | null };
  readonly #nodeKey: string;
  /** Tasks given and not answered yet: running, or held ready for a slot. */
  readonly #active = new Map<string, { controller: AbortController; attempt: number }>();
  /** Answers the gateway may not have yet: made while no connection was up, or sent and not confirmed. */
  readonly #answers = new HeldAnswers();
  /** When the gateway last sent anything (a frame or a pong), or took more of what this node sends. */
  #heardAt = 0;
  /** What the socket still had to send at the last heartbeat: a long upload that moves is no silence. */
  #lastBuffered = 0;
  /** Ends a connection that got no welcome in time. */
  #welcomeTimer: NodeJS.Timeout | undefined;
  /** Whether the connection up now was welcomed: until then, no answer is sent (the gateway may not wait for it). */
  #welcomed = false;
  /** How long the gateway waits for what this node holds after a drop (its welcome says); 0: not at all. */
  #resumeGraceMs = 0;
  /** Ends the carrying of work across a drop, once the gateway no longer waits for it. */
  #carry: NodeJS.Timeout | undefined;
  /** Slots running a task now, and the tasks held ready for one, first come first. */
  readonly #slots = { busy: 0, waiting: [] as (() => void)[] };
  #socket: WebSocket | undefined;
  #snapshot: BackendSnapshot | undefined;
  #backendProblem: string | null = 'not probed yet';
  #heartbeat: NodeJS.Timeout | undefined;
  #watch: NodeJS.Timeout | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #backoffMs: number;
  #stopped = false;
  #draining = false;
  /** This node's speed, measured on its own tasks and reported to the gateway. */
  readonly #speed = new NodeEstimates();

  constructor(options: NodeAgentOptions) {
    super();
    this.#options = {
      slots: 1,
      prefetch: 0,
      refreshIntervalMs: 60_000,
      probeIntervalMs: 5_000,
      reconnectMinMs: 500,
      reconnectMaxMs: 30_000,
      maxFrameBytes: 256 * 1024 * 1024,
      welcomeTimeoutMs: 15_000,
      carryLimitMs: 10 * 60_000,
      ...options,
    };
    this.#nodeKey = options.nodeKey ?? generateNodeKey();
    this.#backoffMs = this.#options.reconnectMinMs;
  }

  /** The id the gateway gave the node's last connection (its welcome's); undefined before the first welcome. */
  get nodeId(): string | undefined {
    return this.#nodeId;
  }

  #nodeId: string | undefined;

  get backendUp(): boolean {
    return this.#backendProblem === null && this.#snapshot !== undefined;
  }

  /** Probes the backend once, then connects (and keeps reconnecting) to the gateway. */
  async start(): Promise<void> {
    await this.#refreshBackend();
    this.#scheduleWatch();
    this.#connect();
  }

  /** Why the backend cannot take work now (what the node found when it last asked it), or null. */
  get backendProblem(): string | null {
    return this.#backendProblem;
  }

  /** Tasks running now. */
  get activeTasks(): number {
    return this.#active.size;
  }

  /**
   * Stops gracefully: tells the gateway to send no more work, finishes the tasks
   * running now, then disconnects.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    this.#sendHeartbeat();
    // Answers made while the connection was down are delivered first: once connected again, or given up with
    // the grace; once nothing runs, after a short wait for a connection (`DRAIN_ANSWERS_WAIT_MS`).
    let answersUntil = Infinity;
    while (this.#active.size > 0 || this.#answers.size > 0) {
      if (this.#active.size === 0 && this.#carry === undefined && this.#welcomed) break;
      const onlyAnswers = this.#active.size === 0 && !this.#welcomed;
      if (onlyAnswers && answersUntil === Infinity) answersUntil = Date.now() + DRAIN_ANSWERS_WAIT_MS;
      if (onlyAnswers && Date.now() >= answersUntil) {
        this.#options.log.warn({ answers: this.#answers.size }, 'stopping without a gateway to deliver answers to: the gateway runs again what it did not receive');
        break;
      }
      await new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.off('task:settled', done);
          this.off('welcomed', done);
          this.off('held:released', done);
          resolve(undefined);
        };
        const timer = onlyAnswers ? setTimeout(done, Math.max(0, answersUntil - Date.now())) : undefined;
        this.on('task:settled', done);
        this.on('welcomed', done);
        this.on('held:released', done);
      });
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnect);
    clearTimeout(this.#watch);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#carry);
    clearTimeout(this.#welcomeTimer);
    for (const { controller } of this.#active.values()) controller.abort(new Error('node agent stopping'));
    const socket = this.#socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1001, NODE_STOPPING_REASON);
        setTimeout(() => {
          socket.terminate();
          resolve();
        }, 2000).unref();
      });
    }
  }

  /** The gateways to try, in order (`gatewayUrl` split at commas), the one tried now, and failures since the last welcome. */
  readonly #gateways = { urls: [] as string[], index: 0, failedInRow: 0 };
  /** When a gateway last closed the connection saying it was stopping (`GATEWAY_STOPPING`); null once welcomed again. */
  #gatewayStoppedAt: number | null = null;

  #connect(): void {
    if (this.#stopped) return;
    if (this.#gateways.urls.length === 0) this.#gateways.urls = commaList(this.#options.gatewayUrl).map(toGatewaySocketUrl);
    const url = this.#gateways.urls[this.#gateways.index]!;
    // While it carries work within the gateway's grace, a try that hangs must not use it up: tried again sooner.
    // Past the grace, a slow link's welcome (several seconds a round trip) gets its usual time again: cut at
    // 3 s, such a node would never join again while it carries work, for up to the carry's 10 minutes.
    const welcomeTimeoutMs = this.#hurrying() ? Math.min(this.#options.welcomeTimeoutMs, CARRY_WELCOME_TIMEOUT_MS) : this.#options.welcomeTimeoutMs;
    const socket = new WebSocket(url, { maxPayload: this.#options.maxFrameBytes, handshakeTimeout: welcomeTimeoutMs });
    this.#socket = socket;
    this.#welcomed = false;
    // A cut during the handshake that closes nothing would leave the node waiting for its welcome for good.
    clearTimeout(this.#welcomeTimer);
    this.#welcomeTimer = setTimeout(() => {
      if (socket !== this.#socket || this.#welcomed) return;
      this.#options.log.warn({ gateway: url, waitedMs: welcomeTimeoutMs }, 'no welcome from the gateway in time; connecting again');
      socket.terminate();
    }, welcomeTimeoutMs);
    socket.on('open', () => this.#sendHello());
    socket.on('pong', () => {
      if (socket !== this.#socket) return;
      this.#heardAt = Date.now();
      this.#answers.pongReceived();
    });
    socket.on('message', (data, isBinary) => {
      if (socket === this.#socket) this.#heardAt = Date.now();
      this.#onFrame(isBinary ? null : textOf(data));
    });
    socket.on('error', (error) => this.#logReconnect({ gateway: url, err: error.message, ...hintFor(error) }, 'gateway connection error'));
    socket.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
  }

  /**
   * The protocol version to say hello in, per gateway address: the newest, until a gateway refuses it (an older
   * gateway); then the newest it speaks (`#olderProtocol`), for as long as that connection lasts.
   */
  readonly #protocols = new Map<string, number>();
  /** The version of the connection's welcome (0 before one). */
  #welcomedProtocol = 0;
  /** Set when a gateway refused the hello's version and an older one is to be tried at once, on the same gateway. */
  #retryOlder = false;

  #protocolOf(url: string): number {
    return this.#protocols.get(url) ?? NODE_PROTOCOLS[0]!;
  }

  /**
   * A gateway refused the hello's version: the newest older one it says it speaks ("this gateway speaks 3 and
   * 4"), or the next older one when it does not say. False when this node speaks none older.
   */
  #olderProtocol(url: string, message: string): boolean {
    const current = this.#protocolOf(url);
    const spoken = /gateway speaks ([\d ,and]+)/.exec(message)?.[1]?.match(/\d+/g)?.map(Number);
    const next = NODE_PROTOCOLS.find((version) => version < current && (spoken === undefined || spoken.includes(version)));
    if (next === undefined) return false;
    this.#protocols.set(url, next);
    this.#options.log.info({ gateway: url, protocol: next, refused: current }, `the gateway speaks an older protocol: connecting again in version ${next} (upgrading the gateway brings what ${current} adds)`);
    return true;
  }

  #sendHello(): void {
    const snapshot = this.#snapshot;
    const url = this.#gateways.urls[this.#gateways.index]!;
    this.#send({
      type: 'hello',
      protocol: this.#protocolOf(url),
      name: this.#options.name,
      token: this.#options.token,
      nodeKey: this.#nodeKey,
      agent: AGENT_VERSION,
      slots: this.#options.slots,
      prefetch: this.#options.prefetch,
      capabilities: snapshot ? capabilitiesFor(snapshot.capabilities, 0) : emptyCapabilities(this.#options.driver.kind),
      backendUp: this.backendUp,
      backendProblem: this.#backendProblem,
      loadedModel: snapshot?.loadedModel ?? null,
      draining: this.#draining,
      measured: this.#measured(),
      ...this.#held(),
    });
  }

  /** What this node holds from an earlier connection, for the hello: given tasks not answered, answers not surely received. */
  #held(): Pick<HelloMessage, 'resume'> {
    const claims = this.#answers.claims(this.#running());
    return claims.length === 0 ? {} : { resume: claims };
  }

  /** The attempts given to this node that it still runs or holds ready (not those given up). */
  *#running(): Generator<{ taskId: string; attempt: number }> {
    for (const [taskId, { controller, attempt }] of this.#active) if (!controller.signal.aborted) yield { taskId, attempt };
  }

  #measured(): HelloMessage['measured'] {
    const estimate = this.#speed.get(SELF);
    if (estimate.samples === 0) return null;
    const { unitsPerSecond, fixedSeconds, switchSeconds, switchMeasured } = estimate;
    // A load time never measured here is the estimates' default: not ours to report.
    return { unitsPerSecond, fixedSeconds, ...(switchMeasured ? { switchSeconds } : {}) };
  }

  #onFrame(raw: string | null): void {
    let message;
    try {
      if (raw === null) throw new Error('binary frame');
      message = parseGatewayMessage(raw);
    } catch (error) {
      this.#options.log.error({ err: (error as Error).message }, 'gateway sent a frame this node does not understand');
      this.#socket?.close(1002, 'protocol error');
      return;
    }
    switch (message.type) {
      case 'welcome': {
        this.#backoffMs = this.#options.reconnectMinMs;
        this.#gatewayStoppedAt = null;
        this.#gateways.failedInRow = 0;
        this.#troubleInRow = 0;
        this.#resumeGraceMs = Math.min(message.resumeGraceMs ?? 0, MAX_TIMER_MS);
        this.#welcomed = true;
        this.#nodeId = message.nodeId;
        clearTimeout(this.#welcomeTimer);
        clearInterval(this.#heartbeat);
        this.#heardAt = Date.now();
        this.#lastBuffered = 0;
        const resumed = this.#takeUpHeld(message.resumed ?? []);
        const intervalMs = message.heartbeatIntervalMs;
        const wake = new WakeWatch(intervalMs, Date.now());
        this.#heartbeat = setInterval(() => this.#beat(intervalMs, wake), intervalMs);
        this.#welcomedProtocol = message.protocol;
        // What the hello could not carry (a gateway of an older version would have refused it).
        const snapshot = this.#snapshot;
        if (message.protocol >= 5 && snapshot && carriesMoreThanHello(snapshot.capabilities)) {
          this.#send({ type: 'capabilities', capabilities: capabilitiesFor(snapshot.capabilities, message.protocol), loadedModel: snapshot.loadedModel });
        }
        const gateway = this.#gateways.urls[this.#gateways.index];
        this.#options.log.info({ gateway, nodeId: message.nodeId, backendUp: this.backendUp, ...(resumed.length ? { resumed: resumed.length } : {}) }, 'connected to gateway');
        this.emit('welcomed', message.nodeId, resumed);
        // The backend looked at again now that the node has an id the gateway knows: a gateway of the network given as
        // the node's WebUI (under another address than --gateway's) can tell its own node only from now on (HTTP 508).
        if (this.backendUp) void this.#refreshBackend();
        return;
      }
      case 'reject':
        if (message.error === 'DAN_ERR_NODE_PROTOCOL' && this.#olderProtocol(this.#gateways.urls[this.#gateways.index]!, message.message)) {
          this.#retryOlder = true;
          return;
        }
        this.#stopped = true;
        this.#options.log.error({ error: message.error }, `gateway refused this node: ${message.message}`);
        this.emit('rejected', message.message);
        return;
      case 'assign':
        void this.#run(message);
        return;
      case 'cancel':
        this.#active.get(message.taskId)?.controller.abort(new Error(message.reason));
        return;
    }
  }

  /**
   * The welcome after a drop: what the gateway still waits for runs on (answers made meanwhile are sent
   * now); the rest it has given to other nodes, so it is stopped and its answers dropped. Answers `resumed`.
   */
  #takeUpHeld(resumed: readonly string[]): string[] {
    const carried = this.#carry !== undefined;
    clearTimeout(this.#carry);
    this.#carry = undefined;
    const { send, keep, lost } = this.#answers.takeUp(resumed, this.#running());
    // Pings count from 0 on this connection: the answers sent again below are confirmed by its pongs.
    this.#answers.connectionOpened();
    for (const [taskId, { controller }] of this.#active) {
      if (!keep.has(taskId)) controller.abort(new Error('the gateway no longer waits for it (cancelled, or given to another node)'));
    }
    for (const answer of send) this.#sendAnswer(answer);
    // Given up here before the welcome came (the node's grace ended first): the gateway must not wait for its timeout.
    for (const { taskId, attempt } of lost) this.#sendFailure(taskId, attempt, new DanError('DAN_ERR_NODE_LOST', 'the node gave this task up while its connection was down'));
    if (carried) this.emit('held:released');
    return resumed.filter((taskId) => keep.has(taskId) || send.some((answer) => answer.taskId === taskId));
  }

  /** A heartbeat, a ping to learn whether the gateway still hears, and the end of a connection that went silent. */
  #beat(intervalMs: number, wake: WakeWatch): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    // After a stall of this process (the machine slept), the gateway's frames of that time are still unread.
    const awakeSince = wake.tick(Date.now());
    // A network cut that closes nothing leaves a socket that looks open for many minutes: the gateway
    // has long dropped this node, and the node would wait for work that never comes. A large result still
    // on its way holds the pongs back: while it moves, the gateway is taking it.
    const buffered = socket.bufferedAmount;
    if (buffered !== this.#lastBuffered) this.#heardAt = Date.now();
    this.#lastBuffered = buffered;
    if (Date.now() - Math.max(this.#heardAt, awakeSince) > SILENT_INTERVALS * intervalMs) {
      this.#options.log.warn({ silentMs: Date.now() - this.#heardAt }, 'the gateway has not answered for 2 heartbeat intervals; connecting again');
      this.#silentClose = true;
      socket.terminate();
      return;
    }
    this.#sendHeartbeat();
    socket.ping();
    this.#answers.pingSent();
  }

  /**
   * Sends a task's answer, or keeps it for the next welcome (`#takeUpHeld` sends it if the gateway still
   * waits for it; `#giveUpHeld` drops it). Not before the welcome: an answer the gateway no longer waits
   * for, sent to it, would break the protocol.
   */
  #sendAnswer(answer: Answer): void {
    if (this.#welcomed && this.#socket?.readyState === WebSocket.OPEN) {
      this.#socket.send(answer.frame);
      this.#answers.sent(answer);
    } else {
      this.#answers.keep(answer);
    }
  }

  /** Answers an attempt with a failure (the error's id, message and whether it may be retried). */
  #sendFailure(taskId: string, attempt: number, error: DanError): void {
    const failure: NodeMessage = { type: 'failure', taskId, attempt, error: error.id, message: error.message.slice(0, 2000), retryable: error.retryable };
    this.#sendAnswer({ taskId, attempt, frame: JSON.stringify(failure) });
  }

  /** The connection is being cut because the gateway fell silent (`#beat`). */
  #silentClose = false;

  #onClose(code: number, reason: string): void {
    clearInterval(this.#heartbeat);
    const wasWelcomed = this.#welcomed;
    const silent = this.#silentClose;
    this.#silentClose = false;
    this.#welcomed = false;
    // A live connection replaced is most likely another process's doing (a copy of this node), but may be a hello
    // of this process's that a lossy link held back past its give-up: the first is taken as that, a second
    // within a minute as the copy.
    if (code === REPLACED_CLOSE_CODE && wasWelcomed && !this.#stopped) {
      const now = Date.now();
      if (this.#replacedAt !== null && now - this.#replacedAt < REPLACED_AGAIN_MS) return this.#replaced(reason);
      this.#replacedAt = now;
      this.#options.log.warn({ reason }, 'the gateway closed this connection as replaced by another of this node; connecting again (should it happen again within a minute, another process is this node)');
    }
    // A gateway that said it was stopping is most likely restarting: tried again every few seconds for a
    // while, not at the backoff's half minute (its API clients get no node meanwhile).
    if (code === GATEWAY_STOPPING) this.#gatewayStoppedAt = Date.now();
    clearTimeout(this.#welcomeTimer);
    this.#welcomedProtocol = 0;
    // A gateway that spoke an older version may come back upgraded (a restart drops every connection): the
    // next connection tries the newest again, at the cost of one refusal if it did not.
    if (wasWelcomed) this.#protocols.delete(this.#gateways.urls[this.#gateways.index]!);
    this.#carryHeld();
    this.emit('disconnected', code);
    if (this.#stopped) return;
    // Refused for its version: the same gateway at once, in the older one.
    if (this.#retryOlder) {
      this.#retryOlder = false;
      this.#reconnect = setTimeout(() => this.#connect(), 0);
      return;
    }
    // The next gateway of the list at once; once every one failed in a row, wait (with backoff) before the round.
    // While it carries work, the gateway that gave it is tried again first: it waits for it. One that cannot
    // be reached (it died) passes the work on: the gateways of a list share one store, and the next one takes
    // over what the dead one's nodes still run (docs/decisions/0019).
    const gateways = this.#gateways;
    const stay = this.#carry !== undefined;
    // One of several that said it is stopping, or fell silent (hung, or cut off from this node), is left at once:
    // the others take over what it gave. The sooner the node is there, the surer: the database counts a stopped
    // or hung gateway gone within seconds (a lease), and then any gateway may run its tasks again.
    const leave = stay && wasWelcomed && (code === GATEWAY_STOPPING || silent) && gateways.urls.length > 1;
    // Tries while carrying are not a round of the list: once the carry ends, the next gateway is tried at the
    // pace of before the drop, not after a backoff grown meanwhile.
    if (!stay) gateways.failedInRow += 1;
    if (!stay || !wasWelcomed || leave) gateways.index = (gateways.index + 1) % gateways.urls.length;
    const roundFailed = (stay && !leave) || gateways.failedInRow >= gateways.urls.length;
    const restarting = this.#gatewayStoppedAt !== null && Date.now() - this.#gatewayStoppedAt < RESTART_WINDOW_MS;
    // Work carried, within the gateway's grace: tried again often, not at a backoff that would outlast the grace.
    // Past it (a gateway paused or down for long), at the backoff again: a thousand nodes trying every second
    // for minutes would be a storm of connections, and at the gateway's return a stampede.
    const hurry = this.#hurrying();
    const cap = hurry ? CARRY_RETRY_MS : restarting ? RESTART_RETRY_MS : Infinity;
    const delay = roundFailed ? Math.round(Math.min(this.#backoffMs, cap) * (0.5 + Math.random() / 2)) : 0;
    if (roundFailed && !hurry) this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.reconnectMaxMs);
    // The gateway's close codes a GPU owner can act on (network/node-hub.ts CloseCodes).
    const hint = code === HELLO_TIMEOUT_CLOSE ? { hint: 'the gateway had no hello from this node within 5 s: the link to it is very slow, or something on the way holds data back' } : {};
    this.#logReconnect({ code, retryInMs: delay, next: gateways.urls[gateways.index], ...hint }, 'gateway connection closed; reconnecting');
    this.#reconnect = setTimeout(() => this.#connect(), delay);
  }

  /** When a live connection of this node was last closed as replaced (`#onClose`). */
  #replacedAt: number | null = null;

  /**
   * Another process connected as this node (its name, key and token): a copy of this machine, or of its key
   * file. Reconnecting would close that one's connection in turn, and the two would take turns for as long as
   * both run, each losing what it ran; this one stops instead, saying why.
   */
  #replaced(reason: string): void {
    this.#stopped = true;
    clearTimeout(this.#welcomeTimer);
    this.#giveUpHeld('another process connected as this node');
    const message =
      `another process connected to the gateway as this node (name "${this.#options.name}", the same node key${reason ? `; the gateway says: ${reason}` : ''}). ` +
      'A name and key are who a node is, so two processes cannot both be it: if the other is another machine (a copy of this one), ' +
      'give it its own --name, or delete its copied key file (--key-file) so that it makes its own. This process stops';
    this.#options.log.error({ code: REPLACED_CLOSE_CODE }, message);
    this.emit('disconnected', REPLACED_CLOSE_CODE);
    this.emit('rejected', message);
  }

  /** Closes and errors since the last welcome, for `#logReconnect`. */
  #troubleInRow = 0;

  /** A line about reconnecting: a warning for the first two of a row (the close and its error) and every 20th, else debug (a flapping link writes hundreds). */
  #logReconnect(fields: object, message: string): void {
    this.#troubleInRow += 1;
    const inRow = this.#troubleInRow;
    if (inRow <= 2 || inRow % 20 === 0) this.#options.log.warn({ ...fields, inRow }, message);
    else this.#options.log.debug(fields, message);
  }

  /**
   * The connection dropped: work held goes on while the gateway waits for it (`#resumeGraceMs`, from the
   * last welcome), to be named in the next hello; after that, or if it would not wait, it is given up.
   */
  #carryHeld(): void {
    const holds = this.#active.size + this.#answers.size > 0;
    // Carried through a gateway's stop too: one that restarts waits as long for what its nodes ran.
    if (!holds || this.#resumeGraceMs === 0) return this.#giveUpHeld('gateway connection lost');
    if (this.#carry !== undefined) return;
    // Answers already sent may not have arrived: named again in the next hello, sent again if still awaited.
    // Kept until a gateway's welcome says whether it still waits for them, not for the gateway's grace alone:
    // its wait begins later than the node's (it noticed the cut later, or restarted and waits from its start),
    // and a gateway that was paused (a VM migrated, SIGSTOP) or hung has not waited at all. A claim that comes
    // too late is refused in the welcome, and the work given up then. Without a welcome, work is carried for
    // `carryLimitMs`: while no connection is up, the GPU has nothing else to do.
    const graceMs = Math.round(this.#resumeGraceMs * CARRY_MARGIN);
    const keepMs = Math.min(Math.max(graceMs, this.#options.carryLimitMs), MAX_TIMER_MS);
    this.#carryHurryUntil = Date.now() + graceMs;
    this.#options.log.info({ tasks: this.#active.size, answers: this.#answers.size, keepMs }, 'gateway connection lost; the tasks run on, for the gateway to take back');
    this.#carry = setTimeout(() => this.#giveUpHeld(`no gateway took them back within ${Math.round(keepMs / 1000)} s of the connection loss: given up (a gateway that comes back runs them on other nodes)`), keepMs);
  }

  /** Until when a node carrying work tries its gateway again every second (`#onClose`): its grace, and half again. */
  #carryHurryUntil = 0;

  /** Whether the node carries work within its gateway's grace (and half again): it tries often, and briefly. */
  #hurrying(): boolean {
    return this.#carry !== undefined && Date.now() < this.#carryHurryUntil;
  }

  #giveUpHeld(reason: string): void {
    const carried = this.#carry !== undefined;
    clearTimeout(this.#carry);
    this.#carry = undefined;
    for (const { controller } of this.#active.values()) controller.abort(new Error(reason));
    this.#answers.clear();
    if (carried) this.emit('held:released');
  }

  async #run(assign: AssignMessage): Promise<void> {
    const { taskId, attempt } = assign;
    if (this.#draining) {
      this.#sendFailure(taskId, attempt, new DanError('DAN_ERR_NODE_DRAINING', 'node is stopping'));
      return;
    }
    const controller = new AbortController();
    const entry = { controller, attempt };
    this.#active.set(taskId, entry);
    this.emit('task:received', taskId);
    this.#options.log.info({ task: taskId, attempt, kind: assign.spec.kind }, 'task received');
    let holdsSlot = false;
    let ok = false;
    try {
      holdsSlot = await this.#takeSlot(controller.signal);
      controller.signal.throwIfAborted();
      ok = await this.#runOnSlot(assign, controller);
    } catch (error) {
      // Given up while held ready (cancel, lost connection): it never ran.
      this.#options.log.info({ task: taskId, reason: errorMessageOf(error) }, 'task abandoned');
    } finally {
      if (holdsSlot) this.#freeSlot();
      // Only this run's own entry: a retry of the task may already run here under the same id.
      if (this.#active.get(taskId) === entry) this.#active.delete(taskId);
    }
    // Once it left `#active`: `drain` counts what is left there.
    this.emit('task:settled', taskId, ok);
  }

  /**
   * Waits for a free slot (at once when one is), in the order tasks came; true once it holds one. A task
   * given up while it waits leaves the line (false). A driver that keeps its runs in line (`runsInLine`)
   * is handed a task held ready at once: its backend begins it the moment the GPU is free.
   */
  #takeSlot(signal: AbortSignal): Promise<boolean> {
    const slots = this.#slots;
    const room = this.#options.slots + (this.#options.driver.runsInLine ? this.#options.prefetch : 0);
    if (slots.busy < room) {
      slots.busy += 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const handOver = (): void => {
        signal.removeEventListener('abort', leave);
        resolve(true);
      };
      const leave = (): void => {
        slots.waiting.splice(slots.waiting.indexOf(handOver), 1);
        resolve(false);
      };
      slots.waiting.push(handOver);
      signal.addEventListener('abort', leave, { once: true });
    });
  }

  /** A task ended: its slot goes to the first task held ready, or becomes free. */
  #freeSlot(): void {
    const next = this.#slots.waiting.shift();
    if (next) next();
    else this.#slots.busy -= 1;
  }

  /** What a step of the family of the checkpoint titled `title` costs, as first guessed (1: none, or not known). */
  #priorStepCost(title: string | undefined): number {
    const family = title === undefined ? undefined : this.#snapshot?.capabilities.models.find((m) => m.title === title)?.family;
    return family === undefined ? 1 : PRIOR_STEP_COSTS[family];
  }

  /**
   * Runs an assigned task on the slot it holds and answers it: one result or failure (none once the
   * gateway gave it up). True when it succeeded.
   */
  async #runOnSlot(assign: AssignMessage, controller: AbortController): Promise<boolean> {
    const { taskId, attempt } = assign;
    const started = performance.now();
    const loadedBefore = this.#snapshot?.loadedModel ?? null;
    // Units priced as the gateway first prices them (the family's prior step cost): the speed this node reports
    // of itself seeds the gateway's figures for it.
    const units = workUnitsOf(assign.spec, this.#priorStepCost(assign.binding.checkpoint));
    try {
      const own = this.#speed.get(SELF);
      const outcome = await this.#options.driver.run(assign.spec, assign.binding, {
        signal: controller.signal,
        ...(own.samples > 0 ? { expectedSeconds: runSeconds(own, units) } : {}),
        onProgress: (p) => this.#send({ type: 'progress', taskId, attempt, progress: clamp01(p.progress), etaSeconds: p.etaSeconds, ...(p.preview === undefined ? {} : { preview: p.preview }) }),
      });
      if (this.#snapshot) this.#snapshot.loadedModel = outcome.loadedModel;
      // Given up while its last part ran (a driver that fetched the images anyway): the gateway waits for no
      // answer, and one sent on a connection that was not given the task would break the protocol.
      controller.signal.throwIfAborted();
      assertImages(outcome.result);
      // A run handed over while the one before it ran waited for it first: not this task's time.
      // Never below 0 (the protocol refuses it, and the gateway would drop the node): the driver's wait is on its
      // own clock, and may be all of the run's time (a short run answered before the one ahead let go of its place).
      const elapsedMs = Math.max(0, performance.now() - started - (outcome.waitedMs ?? 0));
      const { load } = outcome;
      // A driver that keeps runs in line reports its loads: what was loaded when it was handed the run may
      // be the run before it's to change.
      const guessed = !this.#options.driver.runsInLine && assign.binding.checkpoint !== undefined && assign.binding.checkpoint !== loadedBefore;
      const switched = load !== undefined || guessed;
      this.#speed.record(SELF, {
        units,
        elapsedSeconds: elapsedMs / 1000,
        switched,
        ...(load ? { checkpoint: load.checkpoint, loadSeconds: load.seconds } : {}),
      });
      const loadMs = load ? { loadMs: load.seconds * 1000 } : {};
      const frame = encodeResultFrame({ type: 'result', taskId, attempt, result: outcome.result, loadedModel: outcome.loadedModel, elapsedMs, ...loadMs });
      this.emit('task:sending', taskId);
      this.#sendAnswer({ taskId, attempt, frame });
      this.#options.log.info({ task: taskId, elapsedMs: Math.round(elapsedMs), ...(load ? { loadMs: Math.round(load.seconds * 1000) } : {}) }, 'task done');
      return true;
    } catch (error) {
      const danError = toDanError(error, 'DAN_ERR_NODE_INTERNAL');
      if (danError.id === 'DAN_ERR_BACKEND_UNREACHABLE') this.#markBackend(danError.message);
      // A run can fail after switching checkpoints: re-read what the WebUI has loaded.
      else void this.#refreshBackend();
      if (controller.signal.aborted) {
        // The gateway gave the task up (cancel, timeout) or the connection dropped: not a failure of this node.
        this.#options.log.info({ task: taskId, reason: errorMessageOf(controller.signal.reason) }, 'task abandoned');
      } else {
        this.#sendFailure(taskId, attempt, danError);
        this.#options.log.warn({ task: taskId, error: danError.id, reason: danError.message }, 'task failed');
      }
      return false;
    }
  }

  /** The look at the backend under way, and whether another was asked for meanwhile (`#refreshBackend`). */
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;

  /**
   * Looks at the backend again. One look at a time: one asked for while another is under way runs after it, so
   * that the newest look decides (two at once could end in either order, an older failure marking a backend
   * that answers again as down). Resolves once no look is left to make.
   */
  #refreshBackend(): Promise<void> {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return this.#refreshing;
    }
    const looking = (async () => {
      do {
        this.#refreshAgain = false;
        await this.#lookAtBackend();
      } while (this.#refreshAgain && !this.#stopped);
    })();
    this.#refreshing = looking.finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #lookAtBackend(): Promise<void> {
    try {
      const snapshot = await this.#options.driver.discover();
      const changed = JSON.stringify(snapshot.capabilities) !== JSON.stringify(this.#snapshot?.capabilities);
      this.#snapshot = snapshot;
      if (changed) this.#noteUnknownFlux(snapshot);
      if (changed && this.#socket?.readyState === WebSocket.OPEN) {
        this.#send({ type: 'capabilities', capabilities: capabilitiesFor(snapshot.capabilities, this.#welcomedProtocol), loadedModel: snapshot.loadedModel });
      }
      this.#markBackend(null);
    } catch (error) {
      this.#markBackend(toDanError(error, 'DAN_ERR_NODE_INTERNAL').message);
    }
  }

  /** Files named as Flux ones whose family the node could not tell, each said once. */
  readonly #fluxNoted = new Set<string>();

  /**
   * A file named like a Flux model whose family nobody told the node: unless the gateway's catalog knows it
   * by its hash, it is run as an SD model, which makes a black image. Said to the GPU owner, with the fix.
   */
  #noteUnknownFlux(snapshot: BackendSnapshot): void {
    for (const model of snapshot.capabilities.models) {
      if (model.family !== undefined || !/flux/i.test(model.fileName) || this.#fluxNoted.has(model.fileName)) continue;
      this.#fluxNoted.add(model.fileName);
      // Flux.2 runs on ComfyUI only; the others are Flux.1's.
      const flux2 = /flux[-_.]?2/i.test(model.fileName);
      const fix = flux2 ? `a ComfyUI node started with --model-family ${model.fileName}=flux2 runs it (no WebUI of A1111's API does)` : `start the node with --model-family ${model.fileName}=flux`;
      this.#options.log.warn(
        { model: model.fileName },
        `${model.fileName} looks like a ${flux2 ? 'Flux.2' : 'Flux'} model, but its family is not known here: unless the gateway's catalog names it, ${fix} (run as an SD model, it makes black images)`,
      );
    }
  }

  /** Records the backend up (problem null) or down, telling the gateway at once on a change. */
  #markBackend(problem: string | null): void {
    const wasUp = this.backendUp;
    this.#backendProblem = problem;
    if (wasUp === this.backendUp) return;
    const backend = this.#options.driver.kind === 'comfyui' ? 'ComfyUI' : 'WebUI';
    if (this.backendUp) this.#options.log.info(`${backend} is answering; taking work`);
    else this.#options.log.error({ problem }, `${backend} is not answering; the gateway will send no work until it is back`);
    // Found down by a task, not by the watch: probe from now on, not at the next slow refresh.
    if (!this.backendUp && this.#watch !== undefined) this.#scheduleWatch();
    this.#sendHeartbeat();
    this.emit('backend:changed', this.backendUp);
  }

  /** Sets the one watch timer (a call replaces the timer set before). */
  #scheduleWatch(): void {
    clearTimeout(this.#watch);
    if (this.#stopped) return;
    const delay = this.backendUp ? this.#options.refreshIntervalMs : this.#options.probeIntervalMs;
    this.#watch = setTimeout(() => {
      void this.#refreshBackend().finally(() => this.#scheduleWatch());
    }, delay);
  }

  #sendHeartbeat(): void {
    this.#send({
      type: 'heartbeat',
      backendUp: this.backendUp,
      backendProblem: this.#backendProblem?.slice(0, 2000) ?? null,
      loadedModel: this.#snapshot?.loadedModel ?? null,
      draining: this.#draining,
      measured: this.#measured(),
    });
  }

  /** Sends a frame that is no task's answer; none while no connection is up. */
  #send(message: NodeMessage): void {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }
}

/** The gateway refuses a result frame with non-images; say it is the WebUI's fault instead. */
function assertImages(result: TaskResult): void {
  if (result.kind !== 'images') return;
  result.images.forEach((image, index) => {
    if (!sniffImageFormat(Buffer.from(image.slice(0, 24), 'base64'))) {
      throw new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', `the WebUI's image ${index} is not a PNG, JPEG or WebP image`);
    }
  });
}

/** A text frame as a string. ws delivers one Buffer per frame (binaryType 'nodebuffer', the default); the other shapes of RawData are handled for completeness. */
function textOf(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8');
}

function clamp01(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}

function emptyCapabilities(kind: BackendKind): BackendSnapshot['capabilities'] {
  return {
    backend: { kind, version: null },
    models: [],
    loras: [],
    samplers: [],
    schedulers: [],
    upscalers: [],
    latentUpscaleModes: [],
    controlNet: null,
    interrogators: [],
    maxPixels: 4096,
  };
}

function errorMessageOf(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
