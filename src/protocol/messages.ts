/**
 * @module protocol/messages
 *
 * The node protocol: JSON text frames over one WebSocket that the node dials
 * out to the gateway (`/api/node/ws`). Both sides import this module and parse
 * every inbound frame with `parseNodeMessage` / `parseGatewayMessage` before
 * acting on it; a frame that fails is a protocol error and closes the socket.
 *
 * Session:
 *   node → hello            (name, token, capabilities, slots, loaded model, backend state)
 *   gateway → welcome | reject
 *   node → heartbeat        (every `heartbeatIntervalMs`; also carries backend up/down)
 *   node → capabilities     (when a periodic refresh finds a change)
 *   gateway → assign        (task id, attempt, spec, node-local binding, timeout)
 *   node → progress*        (0–1 while the backend works)
 *   node → result | failure (exactly one per assign; a result is a binary frame)
 *   gateway → cancel        (abandon a task: interrupt it on the backend)
 *
 * A node whose connection drops keeps running what it was given (version 4): its next hello names those
 * attempts (`resume`), and the welcome says which of them the gateway still waits for (`resumed`).
 *
 * See docs/node-protocol.md.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Binding } from '../domain/binding.js';
import { NodeCapabilities } from '../domain/capabilities.js';
import type { ModelFamily } from '../domain/families.js';
import { GenerationSpec, TaskResult } from '../domain/spec.js';

/**
 * Bumped on any incompatible change; a gateway rejects a hello with a version it does not speak, and a
 * node refused so tries the newest version both speak (`NODE_PROTOCOLS`).
 */
export const PROTOCOL_VERSION = 8;
/**
 * The versions a gateway takes, so GPU owners may upgrade after the gateway does: 3 is 4 without `resume`
 * (a node of version 3 gives up its tasks when its connection drops); 4 is 5 without LoRA families (a
 * node of 5 sends them in a `capabilities` frame once welcomed in 5, never in its hello, which a gateway
 * of 4 would refuse for a field it does not know); 5 is 6 without the model families added in 6 (a node of
 * 6 leaves their models out of its hello, and sends them once welcomed in 6: node/capabilities-by-protocol.ts); 6 is 7
 * without FLUX.1 Kontext, the same way; 7 is 8 without Qwen-Image-Edit.
 */
export const PROTOCOLS_SPOKEN: readonly number[] = [3, 4, 5, 6, 7, 8];
/** The versions a node speaks, newest first: it says hello in the first, and in the next when refused (an older gateway). */
export const NODE_PROTOCOLS: readonly number[] = [8, 7, 6, 5, 4];
/**
 * The protocol version that brought each model family (0: every version knows it): a gateway of an older one
 * refuses a frame naming it (node/capabilities-by-protocol.ts). A family added to DAN must be given its version here.
 */
export const FAMILY_SINCE_PROTOCOL: Readonly<Record<ModelFamily, number>> = {
  sd15: 0,
  sdxl: 0,
  flux: 0,
  flux2: 6,
  'qwen-image': 6,
  'z-image-turbo': 6,
  'flux-kontext': 7,
  'qwen-image-edit': 8,
};
/** The most attempts a hello's `resume` may name: as many as a node can run and hold (`slots` + `prefetch`), and as many answers again. */
export const MAX_HELD = 2 * (64 + 8);

const TaskId = Type.String({ minLength: 1, maxLength: 64 });
/** Largest live preview a progress frame may carry (base64 characters: 1.5 MiB of image). */
export const PREVIEW_MAX_BASE64 = 2 * 1024 * 1024;
/** Which attempt of the task a frame is about (the assign's): a late answer of an abandoned attempt never settles a later one. */
export const Attempt = Type.Integer({ minimum: 1 });
const ShortText = Type.String({ maxLength: 2048 });
const Title = Type.Union([Type.String({ maxLength: 512 }), Type.Null()]);

const BackendState = {
  /** False while the node cannot reach its WebUI; the gateway sends no work then. */
  backendUp: Type.Boolean(),
  /** Why the backend is down, for operators. */
  backendProblem: Type.Union([ShortText, Type.Null()]),
  /** The checkpoint title the backend has loaded, if known. */
  loadedModel: Title,
  /** The node is stopping: it finishes what it runs and takes nothing new. */
  draining: Type.Boolean(),
  /**
   * What the node has measured on its own tasks, if anything: a run takes `fixedSeconds + units /
   * unitsPerSecond` (work units: domain/work-units.ts), a checkpoint load `switchSeconds` (absent
   * while it has loaded none).
   */
  measured: Type.Union([
    Type.Object(
      {
        unitsPerSecond: Type.Number({ exclusiveMinimum: 0, maximum: 1e6 }),
        fixedSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
        switchSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ]),
};

export const Hello = Type.Object(
  {
    type: Type.Literal('hello'),
    protocol: Type.Integer(),
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
    token: Type.Union([Type.String({ maxLength: 512 }), Type.Null()]),
    /**
     * A random secret the node keeps across restarts (node/node-key.ts): with its token, who the node
     * is for the gateway's learned speed and reputation, which another node cannot take by using its name.
     */
    nodeKey: Type.String({ minLength: 32, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
    agent: ShortText,
    slots: Type.Integer({ minimum: 1, maximum: 64 }),
    /**
     * Tasks it takes beyond its slots, held ready to start the moment a slot frees (`dan node --prefetch`).
     * Absent from nodes older than this field: none.
     */
    prefetch: Type.Optional(Type.Integer({ minimum: 0, maximum: 8 })),
    /**
     * Version 4: attempts the node was given before its connection dropped and still holds (running, held
     * ready, or finished with an answer not yet sent). The welcome's `resumed` says which the gateway still
     * waits for; the node gives up the others.
     */
    resume: Type.Optional(Type.Array(Type.Object({ taskId: TaskId, attempt: Attempt }, { additionalProperties: false }), { maxItems: MAX_HELD })),
    capabilities: NodeCapabilities,
    ...BackendState,
  },
  { additionalProperties: false },
);

export const Heartbeat = Type.Object({ type: Type.Literal('heartbeat'), ...BackendState }, { additionalProperties: false });

export const CapabilitiesUpdate = Type.Object(
  { type: Type.Literal('capabilities'), capabilities: NodeCapabilities, loadedModel: Title },
  { additionalProperties: false },
);

export const Progress = Type.Object(
  {
    type: Type.Literal('progress'),
    taskId: TaskId,
    attempt: Attempt,
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    etaSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
    /** The backend's live preview of the image being made, base64 (A1111's `current_image`), when it gives one. */
    preview: Type.Optional(Type.String({ minLength: 1, maxLength: PREVIEW_MAX_BASE64, pattern: '^[A-Za-z0-9+/]+={0,2}$' })),
  },
  { additionalProperties: false },
);

export const Result = Type.Object(
  {
    type: Type.Literal('result'),
    taskId: TaskId,
    attempt: Attempt,
    result: TaskResult,
    /** Checkpoint loaded after the task (the task may have switched it). */
    loadedModel: Title,
    /** Time the backend took, for the gateway's speed estimates. */
    elapsedMs: Type.Number({ minimum: 0 }),
    /** Of `elapsedMs`, the checkpoint load the node timed apart before the generation; absent when it loaded none. */
    loadMs: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const Failure = Type.Object(
  {
    type: Type.Literal('failure'),
    taskId: TaskId,
    attempt: Attempt,
    /** An error id of the catalog (`DAN_ERR_BACKEND_FAILED`, …). */
    error: Type.String({ pattern: '^DAN_ERR_[A-Z_]+$', maxLength: 64 }),
    message: ShortText,
    retryable: Type.Boolean(),
  },
  { additionalProperties: false },
);

/** Text frames a node sends. Results are binary frames (protocol/result-frame.ts). */
export const NodeMessage = Type.Union([Hello, Heartbeat, CapabilitiesUpdate, Progress, Failure]);
export type NodeMessage = Static<typeof NodeMessage>;
export type HelloMessage = Static<typeof Hello>;

export const Welcome = Type.Object(
  {
    type: Type.Literal('welcome'),
    protocol: Type.Integer(),
    nodeId: Type.String({ maxLength: 128 }),
    heartbeatIntervalMs: Type.Integer({ minimum: 100 }),
    /**
     * Version 4: how long after a connection drops the gateway keeps waiting for the attempts the node
     * held (the node keeps them that long), and which of those named in the hello's `resume` it still waits
     * for: their answers are sent on this connection.
     */
    resumeGraceMs: Type.Optional(Type.Integer({ minimum: 0 })),
    resumed: Type.Optional(Type.Array(TaskId, { maxItems: MAX_HELD })),
  },
  { additionalProperties: false },
);

export const Reject = Type.Object(
  { type: Type.Literal('reject'), error: Type.String({ maxLength: 64 }), message: ShortText },
  { additionalProperties: false },
);

export const Assign = Type.Object(
  {
    type: Type.Literal('assign'),
    taskId: TaskId,
    attempt: Attempt,
    spec: GenerationSpec,
    binding: Binding,
    /** The gateway gives up on this attempt after this long. */
    timeoutMs: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);

export const Cancel = Type.Object(
  { type: Type.Literal('cancel'), taskId: TaskId, reason: ShortText },
  { additionalProperties: false },
);

export const GatewayMessage = Type.Union([Welcome, Reject, Assign, Cancel]);
export type GatewayMessage = Static<typeof GatewayMessage>;
export type AssignMessage = Static<typeof Assign>;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

function makeParser<T extends TSchema>(schema: T) {
  const check = TypeCompiler.Compile(schema);
  return (raw: string): Static<T> => {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new ProtocolError('frame is not JSON');
    }
    if (!check.Check(value)) {
      const first = check.Errors(value).First();
      const where = first ? `${first.path || '/'}: ${first.message}` : 'invalid';
      const type = (value as { type?: unknown } | null)?.type;
      const shown = typeof type === 'string' || typeof type === 'number' || typeof type === 'boolean' ? String(type) : '?';
      throw new ProtocolError(`bad "${shown.slice(0, 32)}" frame at ${where}`);
    }
    return value;
  };
}

/** Parses a frame the gateway received; throws ProtocolError when it breaks the protocol. */
export const parseNodeMessage = makeParser(NodeMessage);
/** Parses a frame the node received; throws ProtocolError when it breaks the protocol. */
export const parseGatewayMessage = makeParser(GatewayMessage);

/** The close reason (with code 1001) of a node agent that stops: it gave up what it ran, so the gateway does not wait for it. */
export const NODE_STOPPING_REASON = 'node stopping';

/**
 * The close code of a node's connection that another connection of the same node (its name, key and token)
 * replaced. The gateway closes a connection a cut left over this way; a node that receives it on the
 * connection it uses learns that another process is this node.
 */
export const REPLACED_CLOSE_CODE = 4005;

/** The gateway's WebSocket path for nodes. */
export const NODE_WS_PATH = '/api/node/ws';
