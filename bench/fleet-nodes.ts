/**
 * The fleet of `npm run bench:fleet`: many light simulated nodes in one
 * process, each on a real WebSocket to the gateway, speaking the node protocol
 * as `dan node` does. A node holds 3 of the 8 checkpoints; it runs its tasks one
 * at a time, each for a fixed time, and answers each with a real 64×64 PNG. With
 * `FLEET_PREFETCH` > 0 it holds that many tasks ready behind the one it runs,
 * which begin the moment the one before ends. No WebUI, no sandbox:
 * the point is the gateway's cost with a thousand sockets, not a GPU's.
 *
 * Started by bench/fleet.ts and bench/scale.ts (forked, with IPC). Environment:
 * FLEET_GATEWAY (ws URL; several separated by commas: node i dials the i-th,
 * round the list), FLEET_NODES, FLEET_TASK_MS, FLEET_PREFETCH (default 0), FLEET_SEED. It reports `{ready}`
 * once every node is welcomed, and answers a `report` message with the times
 * (epoch ms) at which it sent each result, and at which each task's assignment
 * arrived (epoch ms with a fraction, comparable across processes), and how many
 * tasks arrived while their node ran another.
 */
import sharp from 'sharp';
import WebSocket from 'ws';
import { type AssignMessage, type GatewayMessage, NODE_WS_PATH, PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { encodeResultFrame } from '../src/protocol/result-frame.js';
import { capabilitiesOf, makeCheckpoints } from './schedule-nodes.js';
import { createRandom } from './schedule-random.js';

const GATEWAYS = process.env['FLEET_GATEWAY']!.split(',');
const NODES = Number(process.env['FLEET_NODES']);
const TASK_MS = Number(process.env['FLEET_TASK_MS']);
const PREFETCH = Number(process.env['FLEET_PREFETCH'] ?? 0);
const random = createRandom(Number(process.env['FLEET_SEED'] ?? 1));
const CHECKPOINTS = makeCheckpoints(8);

const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 40, g: 90, b: 160 } } }).png().toBuffer();
const PNG_BASE64 = png.toString('base64');
const sentAt: number[] = [];
/** Tasks that reached their node while it ran another: held ready. */
let heldTasks = 0;
const assignedAt: Record<string, number> = {};
let welcomed = 0;
const sockets: WebSocket[] = [];

function startNode(index: number): void {
  const held: typeof CHECKPOINTS = [];
  while (held.length < 3) {
    const pick = CHECKPOINTS[random.int(0, CHECKPOINTS.length - 1)]!;
    if (!held.includes(pick)) held.push(pick);
  }
  connectNode(index, held);
}

function connectNode(index: number, held: typeof CHECKPOINTS): void {
  const titleById = new Map(held.map((c) => [c.ref.id, c.title]));
  let loaded = held[0]!.title;
  /** When the last task given to this node ends (performance.now()): a held task begins then. */
  let busyUntil = 0;
  const socket = new WebSocket(`${GATEWAYS[index % GATEWAYS.length]}${NODE_WS_PATH}`);
  let opened = false;
  // Refused before the upgrade (too many connections waiting for their hello): connect again shortly, as `dan node` does.
  socket.on('error', (error) => {
    if (opened) console.error(`node ${index}: ${error.message}`);
    else setTimeout(() => connectNode(index, held), 100 + Math.random() * 400);
  });
  socket.on('open', () => {
    opened = true;
    sockets.push(socket);
    socket.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        name: `fleet-${index}`,
        token: null,
        nodeKey: `fleet-node-key-${index}`.padEnd(32, '0'),
        agent: 'dan-bench-fleet',
        slots: 1,
        prefetch: PREFETCH,
        capabilities: capabilitiesOf(held),
        backendUp: true,
        backendProblem: null,
        loadedModel: loaded,
        draining: false,
        // A running network: the node knows its costs (a fixed time per task, no load time).
        measured: { unitsPerSecond: 1e6, fixedSeconds: TASK_MS / 1000, switchSeconds: 0 },
      }),
    );
  });
  socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    const message = JSON.parse((data as Buffer).toString("utf8")) as GatewayMessage;
    if (message.type === 'welcome') {
      welcomed += 1;
      setInterval(() => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify({ type: 'heartbeat', backendUp: true, backendProblem: null, loadedModel: loaded, draining: false, measured: null })), message.heartbeatIntervalMs).unref();
      if (welcomed === NODES) process.send?.({ ready: true });
    } else if (message.type === 'assign') {
      const now = performance.now();
      assignedAt[message.taskId] = performance.timeOrigin + now;
      if (busyUntil > now) heldTasks += 1;
      busyUntil = Math.max(now, busyUntil) + TASK_MS;
      setTimeout(() => answer(message), busyUntil - now);
    } else if (message.type === 'reject') {
      console.error(`node ${index} rejected: ${message.message}`);
      process.exit(1);
    }
  });

  function answer(assign: AssignMessage): void {
    const model = 'model' in assign.spec ? assign.spec.model : undefined;
    loaded = (model && titleById.get(model.id)) ?? loaded;
    const frame = encodeResultFrame({
      type: 'result',
      taskId: assign.taskId,
      attempt: assign.attempt,
      result: { kind: 'images', images: [PNG_BASE64], seeds: [index] },
      loadedModel: loaded,
      elapsedMs: TASK_MS,
    });
    socket.send(frame, { binary: true });
    sentAt.push(Date.now());
  }
}

process.on('message', (message: { report?: boolean }) => {
  if (message.report) process.send?.({ sentAt, assignedAt, held: heldTasks });
});

// Connect in small batches, as nodes coming up over a minute would, rather than a thousand handshakes at once.
for (let i = 0; i < NODES; i++) {
  startNode(i);
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
}
