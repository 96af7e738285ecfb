/**
 * @module network/node-hub
 *
 * The gateway side of the node protocol: accepts node sockets, checks the
 * hello (protocol version, token, loopback rule), keeps the sessions, watches
 * liveness, and turns frames into typed events for the dispatcher. It holds no
 * scheduling rules. Any frame that breaks the protocol closes that node's
 * socket (its tasks are requeued by the dispatcher); nothing a node sends can
 * throw out of here.
 */
import { builtInCatalog, type Catalog } from '../domain/catalog.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Static } from '@sinclair/typebox';
import { type Clock, systemClock, type Timer } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { isLoopback } from '../util/loopback.js';
import { WakeWatch } from '../util/wake-watch.js';
import { decodeResultFrame, type RelayedResultMessage } from '../protocol/result-frame.js';
import {
  type Failure,
  type HelloMessage,
  type NodeMessage,
  parseNodeMessage,
  type Progress,
  NODE_STOPPING_REASON,
  PROTOCOLS_SPOKEN,
  ProtocolError,
  REPLACED_CLOSE_CODE,
} from '../protocol/messages.js';
import { NodeSession, type NodeSocket } from './node-session.js';

/** WebSocket close codes the gateway uses (4000–4999 are application codes). */
export const CloseCodes = {
  protocolError: 1002,
  unauthorized: 4001,
  versionMismatch: 4002,
  helloTimeout: 4003,
  silent: 4004,
  /** The node connected again and took its work to the new connection: this one is left over. */
  replaced: REPLACED_CLOSE_CODE,
  shuttingDown: 1001,
} as const;

export interface HubEvents {
  /** A node completed its hello, or changed (backend up/down, capabilities, finished a task). */
  'node:changed': [session: NodeSession];
  /**
   * A node's socket closed, or the hub dropped it. `mayReturn`: a node of protocol 4 that did not say it
   * stopped and was not sent away (the network dropped, or it fell silent), on a gateway with a resume grace:
   * it may come back for what it ran (`NodeHubOptions.resumeGraceMs`). Otherwise whatever it ran is lost.
   * `replaced`: another connection of the same node took its place (4005); what it ran and that connection did
   * not name is lost through nobody's fault (a copy of the node, most likely), not a failure of the task.
   */
  'node:lost': [session: NodeSession, reason: string, mayReturn: boolean, replaced: boolean];
  'task:progress': [session: NodeSession, message: Static<typeof Progress>];
  /** `receivedAt`: when the frame arrived (`performance.now()`). */
  'task:result': [session: NodeSession, message: RelayedResultMessage, receivedAt: number];
  'task:failure': [session: NodeSession, message: Static<typeof Failure>];
}

/** The node tokens the gateway issued (`dan nodes token`), as the hub looks them up. */
export interface NodeTokens {
  /** The token whose secret this is, if any (revoked ones too). */
  find(secret: string): { id: string; revoked: boolean } | undefined;
  /** Whether the token with this id is revoked (or gone). */
  isRevoked(id: string): boolean;
  /** Whether any token works: then a node without one is refused, loopback or not. */
  anyActive(): boolean;
}

export interface NodeHubOptions {
  /** The shared token (`--node-token`) nodes may present; with it and `tokens` both empty, loopback nodes only. */
  nodeToken: string | null;
  /**
   * A secret of this process for its own node (`dan start`, `dan demo`), which never leaves it: that node is
   * admitted whatever tokens exist or are made later. @defaultValue none
   */
  ownNodeToken?: string | null;
  /** Node tokens issued one per owner. @defaultValue none */
  tokens?: NodeTokens;
  /**
   * Sockets that may wait for their hello at once (node-route.ts refuses more). A node says hello as
   * soon as it is connected, so real nodes wait a round trip; a fleet reconnecting after a restart comes
   * in a burst, and a refused node connects again. @defaultValue 128
   */
  maxAwaitingHello?: number;
  heartbeatIntervalMs: number;
  log: Logger;
  clock?: Clock;
  /** What the network knows by sha256 (the built-in catalog and the operator's additions). @defaultValue the built-in catalog */
  catalog?: Catalog;
  /**
   * How long after a node's connection drops its attempts wait for it to come back with them (protocol 4),
   * before they count as lost. A dropped connection is most often a moment's network trouble, and the node
   * goes on running; a node that died makes its tasks wait this long more. @defaultValue 20 s
   */
  resumeGraceMs?: number;
}

/**
 * Moves the attempts a returning node names to its new session (the dispatcher's); answers the tasks the
 * gateway still waits for. Called for every hello of protocol 4: one that names nothing ends the wait too.
 */
export type ResumeHandler = (session: NodeSession, claims: NonNullable<HelloMessage['resume']>) => string[];

/**
 * The default of `NodeHubOptions.resumeGraceMs`: a node notices a connection gone silent after two to three
 * heartbeats (10–15 s) and connects again within a second or two; a gateway that saw the close first
 * must still be waiting then.
 */
export const DEFAULT_RESUME_GRACE_MS = 20_000;
/** How long a gateway that stops waits for a node socket's closing handshake before it cuts it. */
const CLOSE_HANDSHAKE_MS = 1_000;

/** A node says hello as soon as it is connected: a socket silent this long is a stranger's. */
const HELLO_TIMEOUT_MS = 5_000;
/** Heartbeat intervals without a frame, the gateway awake, after which a node counts as having stood still (`NodeSession.silentUntil`). */
const SILENT_INTERVALS = 2;
/** The default of `NodeHubOptions.maxAwaitingHello`. */
export const DEFAULT_MAX_AWAITING_HELLO = 128;

/** A node admitted as `principal` (a node token's id, `shared` for `--node-token`, `local` for loopback), or refused. */
/** `withoutToken`: a node of this machine let in because no token exists (it may not stay once one does). */
type Admission = { principal: string; tokenId: string | null; withoutToken?: true } | { refusal: { error: string; message: string; code: number } };

function refused(error: string, message: string, code: number): Admission {
  return { refusal: { error, message, code } };
}

/**
 * Who a node is: the credential that admitted it, its name, and a digest of the key it keeps. A node
 * that takes another's name (with the same token, or from this machine) but not its key is another node:
 * its failures do not set the real one aside, and its speed is not the real one's.
 */
export function identityOf(principal: string, hello: Pick<HelloMessage, 'name' | 'nodeKey'>): string {
  const digest = createHash('sha256').update(hello.nodeKey).digest('hex').slice(0, 16);
  return `${principal}/${hello.name}/${digest}`;
}

/** A session's id: the node's name and 6 hex digits, new for each connection (what the store records an attempt's node by). */
function sessionIdFor(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`;
}

/** The node name of a session id (`sessionIdFor`); null for an id of another form. */
export function nodeNameOf(sessionId: string): string | null {
  return /^(.+)-[0-9a-f]{6}$/.exec(sessionId)?.[1] ?? null;
}

export class NodeHub extends EventEmitter<HubEvents> {
  readonly #sessions = new Map<string, NodeSession>();
  /** Sessions of nodes of this machine let in without a token, there being none (Admission.withoutToken). */
  readonly #withoutToken = new WeakSet<NodeSession>();
  readonly #options: NodeHubOptions;
  readonly #clock: Clock;
  #livenessTimer: Timer | undefined;
  /** Sockets accepted that have not said hello (or been closed) yet. */
  #awaitingHello = 0;
  /** Every socket accepted and not closed yet (sessions, sockets before their hello, sessions dropped but not closed). */
  readonly #open = new Set<NodeSocket>();
  #resume: ResumeHandler = () => [];
  /** Sessions whose connection dropped and whose node may come back within the grace (`returning`). */
  readonly #returning = new Map<string, { session: NodeSession; until: number }>();

  constructor(options: NodeHubOptions) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#wake = new WakeWatch(options.heartbeatIntervalMs, this.#clock.now());
    this.#checkedAt = this.#clock.now();
    // Every silent node is found within one interval.
    this.#livenessTimer = this.#clock.setInterval(() => this.#checkLiveness(), options.heartbeatIntervalMs);
  }

  get sessions(): ReadonlyMap<string, NodeSession> {
    return this.#sessions;
  }

  get resumeGraceMs(): number {
    return this.#options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS;
  }

  /** Nodes whose connection dropped that may come back (protocol 4), until the grace ends or they do: listed as reconnecting. */
  returning(): NodeSession[] {
    this.#forgetReturned();
    return [...this.#returning.values()].map((r) => r.session);
  }

  /** Drops the nodes whose grace has ended (asked when one is listed or added: no node is kept for long). */
  #forgetReturned(): void {
    const now = this.#clock.now();
    for (const [id, { until }] of this.#returning) if (until <= now) this.#returning.delete(id);
  }

  /** Who takes back the attempts a returning node names (the dispatcher: it knows what runs where). */
  onResume(handler: ResumeHandler): void {
    this.#resume = handler;
  }

  /** Sockets accepted that have not said hello yet. */
  get awaitingHello(): number {
    return this.#awaitingHello;
  }

  /** Whether another socket may wait for its hello (`maxAwaitingHello`). */
  hasRoomForHello(): boolean {
    return this.#awaitingHello < (this.#options.maxAwaitingHello ?? DEFAULT_MAX_AWAITING_HELLO);
  }

  /**
   * Takes a freshly upgraded socket; the node must say hello first. `welcomed` runs once it has.
   * `bytesReceived`: what the connection has read so far, for a frame still on its way to count as a sign
   * of life (a large result on a slow uplink takes longer than three heartbeats, and no frame ends meanwhile).
   */
  accept(socket: NodeSocket, remoteAddress: string, hooks: { welcomed?: () => void; bytesReceived?: () => number } = {}): void {
    const log = this.#options.log;
    let session: NodeSession | undefined;
    let awaiting = true;
    this.#awaitingHello += 1;
    this.#open.add(socket);
    const helloDone = () => {
      if (!awaiting) return;
      awaiting = false;
      this.#awaitingHello -= 1;
      helloTimer.cancel();
    };
    // In the order connections came: a hello that arrives late, on a connection older than one its node has
    // open since, is a leftover (the node gave up on it), not the node's current connection (`#admit`).
    const order = ++this.#accepted;
    let timedOut = false;
    const helloTimer = this.#clock.setTimeout(() => {
      timedOut = true;
      socket.close(CloseCodes.helloTimeout, 'no hello');
    }, HELLO_TIMEOUT_MS);
    socket.on('message', (data, isBinary) => {
      const receivedAt = performance.now();
      // A hello that comes after its connection was closed for want of one (a link that held it back) is not taken.
      if (!session && timedOut) return;
      try {
        const message = isBinary ? decodeResultFrame(toBuffer(data)) : parseNodeMessage(toBuffer(data).toString());
        if (!session) {
          if (message.type !== 'hello') throw new ProtocolError(`expected hello, got ${message.type}`);
          helloDone();
          session = this.#admit(socket, remoteAddress, message, order);
          if (session && hooks.bytesReceived) this.#reading.set(session, { bytes: hooks.bytesReceived, seen: hooks.bytesReceived() });
          if (session) hooks.welcomed?.();
          return;
        }
        this.#onFrame(session, message, receivedAt);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (session) return this.expel(session, reason);
        log.warn({ remoteAddress, reason }, 'closing node connection: protocol error');
        socket.close(CloseCodes.protocolError, reason.slice(0, 120));
      }
    });
    socket.on('error', (error) => log.warn({ node: session?.id, err: error.message }, 'node socket error'));
    socket.on('close', (code, reason) => {
      this.#open.delete(socket);
      helloDone();
      // The agent stopping closes with 1001 and this reason (it gave up what it ran); any other close may be the
      // network's (a proxy in between going away closes with 1001 too, with a reason of its own or none).
      const stopped = code === CloseCodes.shuttingDown && reason.toString() === NODE_STOPPING_REASON;
      if (session) this.#drop(session, `connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`, !stopped);
    });
  }

  /**
   * Forgets a session at once (its socket may take a while to close) and reports its tasks lost, or gone for
   * now: `mayCome`, the network's doing rather than the node's or the gateway's, and so `mayReturn` if the
   * node and the gateway resume work at all.
   */
  #drop(session: NodeSession, reason: string, mayCome: boolean, replaced = false): void {
    if (!this.#sessions.delete(session.id)) return;
    const mayReturn = mayCome && session.protocol >= 4 && this.resumeGraceMs > 0;
    if (mayReturn) {
      this.#forgetReturned();
      this.#returning.set(session.id, { session, until: this.#clock.now() + this.resumeGraceMs });
    }
    this.#options.log.info({ node: session.id, reason }, 'node disconnected');
    this.emit('node:lost', session, reason, mayReturn, replaced);
  }

  #admit(socket: NodeSocket, remoteAddress: string, hello: HelloMessage, order: number): NodeSession | undefined {
    const admission = this.#admission(hello, remoteAddress);
    if ('refusal' in admission) {
      const { refusal } = admission;
      this.#options.log.warn({ name: hello.name, remoteAddress, reason: refusal.message }, 'refused node');
      socket.send(Buffer.from(JSON.stringify({ type: 'reject', error: refusal.error, message: refusal.message })), { binary: false });
      socket.close(refusal.code, refusal.message.slice(0, 120));
      return undefined;
    }
    const id = sessionIdFor(hello.name);
    const { principal, tokenId } = admission;
    const identity = identityOf(principal, hello);
    // The node is on a connection it opened after this one: this hello was held back on the way (a lossy link)
    // and the node has given up on it. Taken, it would close the node's current connection.
    for (const other of this.#sessions.values()) {
      if (other.identity !== identity || (this.#orderOf.get(other) ?? 0) < order) continue;
      this.#options.log.info({ node: other.id, remoteAddress }, 'a late hello of a connection the node has replaced since; closed');
      socket.close(CloseCodes.replaced, 'a newer connection of this node is open');
      return undefined;
    }
    const session = new NodeSession({ id, hello, socket, remoteAddress, now: this.#clock.now(), identity, tokenId, catalog: this.#options.catalog ?? builtInCatalog });
    this.#orderOf.set(session, order);
    if (admission.withoutToken) this.#withoutToken.add(session);
    this.#sessions.set(id, session);
    // Back (or a new process of it): its dropped connections are no longer waited for.
    for (const [oldId, { session: old }] of this.#returning) if (old.identity === identity) this.#returning.delete(oldId);
    const resumed = hello.protocol >= 4 ? this.#resume(session, hello.resume ?? []) : [];
    // A node of protocol 3 is answered in its own words: it knows neither field.
    const resumption = hello.protocol >= 4 ? { resumeGraceMs: this.resumeGraceMs, resumed } : {};
    session.send({ type: 'welcome', protocol: hello.protocol, nodeId: id, heartbeatIntervalMs: this.#options.heartbeatIntervalMs, ...resumption });
    this.#options.log.info(
      { node: id, remoteAddress, slots: session.slots, models: session.offering.models.size, backendUp: session.backendUp, ...(hello.resume?.length ? { resumed: resumed.length, named: hello.resume.length } : {}) },
      'node connected',
    );
    // Another open connection of the same node is one a cut left over (the gateway had not noticed yet; the
    // node may have taken its work to this one): a node keeps one connection. It would be sent work that goes
    // nowhere until its silence shows. (Two node processes of one name and key on one machine refuse to
    // start, node-key.ts; on two machines, they take turns here.)
    if (hello.protocol >= 4) {
      for (const other of [...this.#sessions.values()]) {
        if (other === session || other.identity !== identity) continue;
        this.#noteReplacement(identity, session, other);
        this.expel(other, `the node connected again from ${session.remoteAddress}: this older connection is left over`, CloseCodes.replaced);
      }
    }
    this.emit('node:changed', session);
    return session;
  }

  /** Connections accepted so far; each session's place among them (`accept`'s `order`). */
  #accepted = 0;
  readonly #orderOf = new WeakMap<NodeSession, number>();

  /** How many bytes each session's connection has read, and what the last liveness check saw. */
  readonly #reading = new WeakMap<NodeSession, { bytes: () => number; seen: number }>();

  /** Replacements per node lately: many in a minute are two machines sharing a name and key, not cuts. */
  readonly #replacements = new Map<string, { since: number; count: number }>();

  #noteReplacement(identity: string, session: NodeSession, old: NodeSession): void {
    const now = this.#clock.now();
    const seen = this.#replacements.get(identity);
    const recent = seen && now - seen.since < 60_000 ? seen : { since: now, count: 0 };
    recent.count += 1;
    this.#replacements.set(identity, recent);
    if (this.#replacements.size > 1024) this.#replacements.delete(this.#replacements.keys().next().value!);
    const fields = { node: session.id, old: old.id, remoteAddress: session.remoteAddress, oldAddress: old.remoteAddress };
    if (recent.count === 5) {
      this.#options.log.warn(fields, 'a node keeps replacing its own connection: two machines may run a node of the same name and key (node token, --name and --key-file); give each its own');
    } else this.#options.log.info(fields, 'the node connected again; its older connection is closed');
  }

  /**
   * Whether a node may join, and as whom. A token is the shared `--node-token` or a node token of its
   * own (`dan nodes token`); without any token configured, nodes on this machine may join without one
   * ("this machine" is the socket's own peer address, never a forwarded header). An API key admits no node.
   */
  #admission(hello: HelloMessage, remoteAddress: string): Admission {
    if (!PROTOCOLS_SPOKEN.includes(hello.protocol)) {
      const spoken = PROTOCOLS_SPOKEN.join(' and ');
      return refused('DAN_ERR_NODE_PROTOCOL', `node speaks protocol ${hello.protocol}, this gateway speaks ${spoken}; update the older side`, CloseCodes.versionMismatch);
    }
    if (hello.resume !== undefined && hello.protocol < 4) {
      return refused('DAN_ERR_NODE_PROTOCOL', 'resume is a field of protocol 4: this hello says protocol 3', CloseCodes.protocolError);
    }
    const shared = this.#options.nodeToken;
    const tokens = this.#options.tokens;
    if (hello.token === null) {
      if (shared === null && !tokens?.anyActive()) {
        if (isLoopback(remoteAddress)) return { principal: 'local', tokenId: null, withoutToken: true };
        return refused('DAN_ERR_NODE_UNAUTHORIZED', 'this gateway has no node token, so it accepts nodes from its own machine only', CloseCodes.unauthorized);
      }
      return refused('DAN_ERR_NODE_UNAUTHORIZED', 'this gateway takes nodes with a node token only: start the node with --token', CloseCodes.unauthorized);
    }
    const own = this.#options.ownNodeToken;
    if (own && sameSecret(hello.token, own)) return { principal: 'local', tokenId: null };
    if (shared !== null && sameSecret(hello.token, shared)) return { principal: 'shared', tokenId: null };
    const token = tokens?.find(hello.token);
    if (token?.revoked) return refused('DAN_ERR_NODE_UNAUTHORIZED', 'this node token was revoked; ask the operator for a new one', CloseCodes.unauthorized);
    if (token) return { principal: token.id, tokenId: token.id };
    // The token is never echoed: only which kind of secret it looks like.
    const what = hello.token?.startsWith('sk-') ? 'this is an API key (sk-…), not a node token' : 'this gateway knows no such node token';
    // A gateway with a shared token: the owner may have been given that one, not one of their own.
    const ask = shared === null ? 'ask the operator for one (dan nodes token create --name <you>)' : "ask the operator for the gateway's shared node token (its --node-token), or one of your own (dan nodes token create --name <you>)";
    return refused('DAN_ERR_NODE_UNAUTHORIZED', `wrong node token: ${what}; ${ask}`, CloseCodes.unauthorized);
  }

  /** Disconnects the nodes whose node token has been revoked, and those that joined without one once one exists (the gateway calls it when tokens change). */
  expelRevoked(): void {
    const tokens = this.#options.tokens;
    if (!tokens) return;
    // A node of this machine that joined without a token (there was none) may no longer stay once the first
    // node token exists: new ones like it are refused, and it would go on taking prompts. (The gateway's own
    // node, of `dan start` and `dan demo`, has a token of the process's own.)
    const tokenless = tokens.anyActive();
    for (const session of [...this.#sessions.values()]) {
      if (session.tokenId !== null && tokens.isRevoked(session.tokenId)) this.expel(session, 'its node token was revoked', CloseCodes.unauthorized);
      else if (tokenless && this.#withoutToken.has(session)) {
        this.expel(session, 'this gateway now takes nodes with a node token only (one was created): start the node with --token', CloseCodes.unauthorized);
      }
    }
  }

  #onFrame(session: NodeSession, message: NodeMessage | RelayedResultMessage, receivedAt: number): void {
    const now = this.#clock.now();
    // A node that sends a heartbeat every interval and was silent for two, while this gateway was awake to
    // hear it: its process stood still (or its link did). What it ran meanwhile is not timed by its GPU.
    if (now - session.heardAt >= SILENT_INTERVALS * this.#options.heartbeatIntervalMs && this.#wake.awakeSinceAt(now) < session.heardAt) {
      session.silentUntil = now;
      this.#options.log.info({ node: session.id, silentMs: now - session.heardAt }, 'node heard again after a silence: its tasks of that time teach nothing of its speed');
    }
    session.heardAt = now;
    switch (message.type) {
      case 'hello':
        throw new ProtocolError('hello sent twice');
      case 'heartbeat': {
        const changed =
          session.backendUp !== message.backendUp || session.loadedModel !== message.loadedModel || session.draining !== message.draining;
        session.backendUp = message.backendUp;
        session.backendProblem = message.backendProblem;
        session.loadedModel = message.loadedModel;
        session.draining = message.draining;
        session.measured = message.measured;
        if (!changed) return;
        const { backendUp, draining, loadedModel } = session;
        this.#options.log.debug({ node: session.id, backendUp, draining, loadedModel }, 'node state changed');
        this.emit('node:changed', session);
        return;
      }
      case 'capabilities':
        session.updateCapabilities(message.capabilities);
        session.loadedModel = message.loadedModel;
        this.emit('node:changed', session);
        return;
      case 'progress':
        this.emit('task:progress', session, message);
        return;
      case 'result':
        // A late answer of a task it was given is the dispatcher's to weigh; a result for a task it never
        // had is junk or worse (nodes are strangers' machines).
        if (!session.wasGiven(message.taskId)) {
          // One its hello named, that the gateway no longer waited for: late, not junk (the node had given it up).
          if (session.named(message.taskId)) return;
          throw new ProtocolError(`sent a result for task ${message.taskId.slice(0, 64)}, which it was never given`);
        }
        session.loadedModel = message.loadedModel;
        this.emit('task:result', session, message, receivedAt);
        return;
      case 'failure':
        this.emit('task:failure', session, message);
        return;
    }
  }

  /** Whether the liveness check runs late: the gateway was not running, and could not hear its nodes. */
  readonly #wake: WakeWatch;
  /** When the liveness check last ran (at first, when the hub began). */
  #checkedAt: number;

  #checkLiveness(): void {
    const now = this.#clock.now();
    const deadline = now - 3 * this.#options.heartbeatIntervalMs;
    // After a stall (the machine slept, the process was paused) the nodes' frames of that time are still
    // unread: silence is counted from the wake, not from their last frame read.
    const awakeSince = this.#wake.tick(now);
    const checkedBefore = this.#checkedAt;
    this.#checkedAt = now;
    for (const session of this.#sessions.values()) {
      // Bytes of a frame still arriving are a sign of life as good as a frame. They came after the check
      // before this one, no later for sure: the node was heard then (a silence counts from there).
      const reading = this.#reading.get(session);
      if (reading) {
        const bytes = reading.bytes();
        if (bytes !== reading.seen) session.heardAt = Math.max(session.heardAt, checkedBefore);
        reading.seen = bytes;
      }
      if (Math.max(session.heardAt, awakeSince) < deadline) {
        this.#options.log.warn({ node: session.id }, 'node silent for 3 heartbeat intervals; dropping it');
        session.terminate();
        this.#drop(session, 'silent for 3 heartbeat intervals', true);
      }
    }
  }

  /**
   * Since when this gateway has run without a stall (util/wake-watch.ts), as of `now`: a time measured across
   * a stall (the process paused, its event loop blocked) holds the stall too, which is nobody's cost.
   */
  awakeSince(now: number): number {
    return this.#wake.awakeSinceAt(now);
  }

  /**
   * Disconnects a node that broke the protocol: a frame the hub refuses, or one only the dispatcher can
   * judge (a result that does not answer its task). Its socket closes with a protocol error, and whatever
   * it ran is lost (requeued).
   */
  expel(session: NodeSession, reason: string, code: number = CloseCodes.protocolError): void {
    const what = code === CloseCodes.protocolError ? 'protocol error' : code === CloseCodes.replaced ? 'replaced' : 'refused';
    this.#options.log.warn({ node: session.id, remoteAddress: session.remoteAddress, reason }, `closing node connection: ${what}`);
    // Dropped before the close: its close event must not read as a connection that may come back.
    this.#drop(session, `${what}: ${reason}`, false, code === CloseCodes.replaced);
    session.close(code, reason.slice(0, 120));
    // A connection the node replaced is most likely dead: its closing handshake is not waited for. It is sent all
    // the same: should the connection be alive, another process is this node, and the code tells it so.
    if (code === CloseCodes.replaced) setTimeout(() => session.terminate(), CLOSE_HANDSHAKE_MS).unref();
  }

  /**
   * Closes every node socket (gateway shutdown): with a closing handshake, and those that have not
   * finished it within a second (a connection a cut left half-dead never answers) are cut, so that the
   * gateway's exit, and its restart, do not wait for them.
   */
  close(): void {
    this.#livenessTimer?.cancel();
    this.#livenessTimer = undefined;
    this.#returning.clear();
    for (const session of this.#sessions.values()) session.close(CloseCodes.shuttingDown, 'gateway shutting down');
    const cut = setTimeout(() => {
      for (const socket of this.#open) socket.terminate();
    }, CLOSE_HANDSHAKE_MS);
    cut.unref();
  }
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
