/**
 * @module network/node-session
 *
 * One connected node, as the gateway sees it: its declared capabilities
 * resolved through the catalog, its slots, and whether its backend is up.
 * What it runs is the attempt ledger's to know (scheduler/attempt-ledger.ts). States of a session:
 *
 *   (socket open) ──hello ok──▶ ready ──close / silence / protocol error──▶ closed
 *
 * A session never outlives its socket; a reconnecting node gets a new session, which the attempts it
 * still holds move to (protocol 4, `adopt`).
 */
import type { NodeCapabilities } from '../domain/capabilities.js';
import type { Catalog } from '../domain/catalog.js';
import { type NodeOffering, toNodeOffering } from '../domain/offering.js';
import type { GatewayMessage, HelloMessage } from '../protocol/messages.js';
import { toJsonBuffer } from '../util/json-buffer.js';

/**
 * The socket a session talks through: what the gateway uses of a `ws`
 * WebSocket, so that tests can hand the hub a socket of their own.
 */
export interface NodeSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: Buffer, options: { binary: boolean }): void;
  close(code: number, reason: string): void;
  terminate(): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
}

/** How many of its tasks a session remembers having been sent. */
const GIVEN_KEPT = 1024;

export class NodeSession {
  readonly id: string;
  readonly name: string;
  /** Who the node is (node-hub.ts `identityOf`): its learned speed and reputation follow this, not its name. */
  readonly identity: string;
  /** The node token that admitted it (`nt_…`), or null (the shared `--node-token`, or loopback). */
  readonly tokenId: string | null;
  readonly slots: number;
  /** Tasks it holds ready beyond its slots (its hello's `prefetch`). */
  readonly prefetch: number;
  /** The node program and version it says it is (`dan-node/0.2.0`). */
  readonly agent: string;
  /** The protocol version of its hello: from 4, a node keeps what it runs through a dropped connection. */
  readonly protocol: number;
  readonly connectedAt: number;
  readonly remoteAddress: string;
  offering: NodeOffering;
  backendUp: boolean;
  backendProblem: string | null;
  loadedModel: string | null;
  draining: boolean;
  /** The node's own measure of its speed, if it has one. */
  measured: HelloMessage['measured'];
  /** Bumped whenever `offering` changes. */
  offeringVersion = 0;
  /**
   * When the node was last surely heard: its last frame, or the liveness check before the one that saw
   * bytes of a frame arrive (a node sending a large answer is alive, and was heard by then at the latest).
   */
  heardAt: number;
  /**
   * When the gateway last heard it again after a silence of two heartbeat intervals or more, the gateway
   * itself awake throughout (node-hub.ts): a task's time measured across that holds the silence.
   */
  silentUntil = -Infinity;
  readonly #socket: NodeSocket;
  /** Tasks sent to this session, oldest first, at most `GIVEN_KEPT`. */
  readonly #givenTasks = new Set<string>();

  readonly #catalog: Catalog;
  /** Tasks its hello named as held from an earlier connection. */
  readonly #named: ReadonlySet<string>;

  constructor(options: { id: string; hello: HelloMessage; socket: NodeSocket; remoteAddress: string; now: number; identity: string; tokenId: string | null; catalog: Catalog }) {
    const { hello } = options;
    this.#catalog = options.catalog;
    this.id = options.id;
    this.name = hello.name;
    this.identity = options.identity;
    this.tokenId = options.tokenId;
    this.slots = hello.slots;
    this.prefetch = hello.prefetch ?? 0;
    this.agent = hello.agent;
    this.protocol = hello.protocol;
    this.#named = new Set((hello.resume ?? []).map((claim) => claim.taskId));
    this.offering = toNodeOffering(hello.capabilities, this.#catalog);
    this.backendUp = hello.backendUp;
    this.backendProblem = hello.backendProblem;
    this.loadedModel = hello.loadedModel;
    this.draining = hello.draining;
    this.measured = hello.measured;
    this.connectedAt = options.now;
    this.heardAt = options.now;
    this.remoteAddress = options.remoteAddress;
    this.#socket = options.socket;
  }

  /** Whether the node may get new work (the scheduler also checks it is not set aside); a closing socket takes none. */
  get available(): boolean {
    return this.backendUp && !this.draining && this.#socket.readyState === this.#socket.OPEN;
  }

  updateCapabilities(capabilities: NodeCapabilities): void {
    this.offering = toNodeOffering(capabilities, this.#catalog);
    this.offeringVersion += 1;
  }

  /** Sends a frame; false if the socket is no longer open. */
  send(message: GatewayMessage): boolean {
    if (this.#socket.readyState !== this.#socket.OPEN) return false;
    if (message.type === 'assign') this.#given(message.taskId);
    // A text frame from bytes: assignments carry input images (see util/json-buffer.ts).
    this.#socket.send(toJsonBuffer(message), { binary: false });
    return true;
  }

  /** Whether this session was ever sent `taskId` (of its last `GIVEN_KEPT` tasks): a result for another task is junk. */
  wasGiven(taskId: string): boolean {
    return this.#givenTasks.has(taskId);
  }

  /** A task sent to the node's previous connection, which it brought back: its answer comes on this one. */
  adopt(taskId: string): void {
    this.#given(taskId);
  }

  /** Whether its hello named `taskId` (`resume`): a late answer of one the gateway no longer waited for is no junk. */
  named(taskId: string): boolean {
    return this.#named.has(taskId);
  }

  #given(taskId: string): void {
    this.#givenTasks.delete(taskId);
    this.#givenTasks.add(taskId);
    // Oldest first: a late answer comes within minutes, long before a thousand more tasks were sent.
    if (this.#givenTasks.size > GIVEN_KEPT) this.#givenTasks.delete(this.#givenTasks.values().next().value!);
  }

  close(code: number, reason: string): void {
    this.#socket.close(code, reason.slice(0, 120));
  }

  /** Drops the socket without a closing handshake (for a peer that stopped answering). */
  terminate(): void {
    this.#socket.terminate();
  }
}
