/**
 * @module gateway/metrics
 *
 * The gateway's Prometheus metrics (prom-client), served at `/metrics`: tasks by
 * state and kind, the queue by checkpoint, dispatch latency, attempt outcomes,
 * nodes by state and their slots' busy share, webhook tries, HTTP requests by
 * route and status, the event loop's delay, what a step of each model family costs as learned, and the
 * process's own (memory, CPU, event loop). Labels
 * take bounded values only (kinds, states, error ids, route templates,
 * checkpoint names), never a task id, a key or a node name.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { ModelFamilies, type ModelFamily } from '../domain/families.js';
import type { TaskKind } from '../domain/spec.js';
import type { DispatcherObserver } from './dispatcher.js';
import type { NodeListItem } from './node-directory.js';

export interface MetricsSources {
  load(): { queued: number; running: number };
  queuedByCheckpoint(): Map<string, number>;
  nodes(): NodeListItem[];
  /** What a step of `family` costs against an SD 1.5 step, as the gateway prices work now (domain/family-costs.ts). */
  stepCost(family: ModelFamily): number;
}

export class GatewayMetrics {
  /** Its own registry: two gateways in one process (tests) do not share counts. */
  readonly registry = new Registry();
  readonly #submitted: Counter<'kind'>;
  readonly #finished: Counter<'kind' | 'state'>;
  readonly #attempts: Counter<'outcome'>;
  readonly #dispatch: Histogram;
  readonly #webhooks: Counter<'result'>;
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #requestSeconds: Histogram<'method' | 'route'>;
  readonly #eventLoopDelay: Histogram;
  readonly #passSeconds: Histogram;
  /** How many requests with a body wait for their turn (api/turn-admission.ts); none until the app says. */
  #waitingTurn: () => number = () => 0;
  /** By `method route status`: bounded (route templates, not paths). */
  readonly #answerChildren = new Map<string, { count: { inc(): void }; time: { observe(seconds: number): void } }>();

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'dan_' });
    this.#submitted = new Counter({ name: 'dan_tasks_submitted_total', help: 'Tasks stored and queued, by kind', labelNames: ['kind'], registers });
    this.#finished = new Counter({ name: 'dan_tasks_finished_total', help: 'Tasks ended, by kind and state (succeeded, failed, cancelled)', labelNames: ['kind', 'state'], registers });
    new Gauge({
      name: 'dan_tasks',
      help: 'Unfinished tasks by state',
      labelNames: ['state'],
      registers,
      collect() {
        const { queued, running } = sources.load();
        this.set({ state: 'queued' }, queued);
        this.set({ state: 'running' }, running);
      },
    });
    new Gauge({
      name: 'dan_queue_length',
      help: 'Queued tasks by checkpoint ("" for tasks without one)',
      labelNames: ['checkpoint'],
      registers,
      collect() {
        this.reset();
        for (const [checkpoint, count] of sources.queuedByCheckpoint()) this.set({ checkpoint }, count);
      },
    });
    this.#dispatch = new Histogram({
      name: 'dan_dispatch_seconds',
      help: 'From a submit\'s arrival to its task being sent to a node, for tasks a free node took at once',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.#attempts = new Counter({ name: 'dan_attempts_total', help: 'Attempts ended, by outcome (succeeded, or the error id)', labelNames: ['outcome'], registers });
    const nodeStates = ['ready', 'busy', 'webui-down', 'draining', 'set-aside', 'reconnecting'] as const;
    new Gauge({
      name: 'dan_nodes',
      help: 'Connected nodes by state',
      labelNames: ['state'],
      registers,
      collect() {
        const nodes = sources.nodes();
        for (const state of nodeStates) this.set({ state }, nodes.filter((n) => n.state === state).length);
      },
    });
    new Gauge({
      name: 'dan_node_slots',
      help: 'Task slots of the connected nodes: busy, free, and idle on nodes that take no work (WebUI down, draining, set aside)',
      labelNames: ['use'],
      registers,
      collect() {
        const use = { busy: 0, free: 0, unavailable: 0 };
        for (const node of sources.nodes()) {
          const busy = Math.min(node.running, node.slots);
          use.busy += busy;
          // A slot of a node that takes no work is not one a task could have.
          const takesWork = node.state === 'ready' || node.state === 'busy';
          use[takesWork ? 'free' : 'unavailable'] += node.slots - busy;
        }
        for (const [label, value] of Object.entries(use)) this.set({ use: label }, value);
      },
    });
    new Gauge({
      name: 'dan_family_step_cost',
      help: 'What a sampler step of each model family costs against an SD 1.5 step at the same size, as the gateway prices work (first guessed, then learned from nodes that run several families)',
      labelNames: ['family'],
      registers,
      collect() {
        for (const family of ModelFamilies) this.set({ family }, sources.stepCost(family));
      },
    });
    this.#webhooks = new Counter({ name: 'dan_webhook_tries_total', help: 'Webhook tries by result (delivered, retry, failed: given up)', labelNames: ['result'], registers });
    this.#requests = new Counter({ name: 'dan_http_requests_total', help: 'HTTP requests by method, route template and status', labelNames: ['method', 'route', 'status'], registers });
    this.#requestSeconds = new Histogram({
      name: 'dan_http_request_seconds',
      help: 'Time to answer HTTP requests (sync submits include their wait for the GPU)',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 300],
      registers,
    });
    const waitingTurn = () => this.#waitingTurn();
    new Gauge({
      name: 'dan_http_requests_waiting',
      help: 'Requests with a body (submits, uploads) waiting for a turn of the event loop to be read: more than a few for long, the gateway takes submits faster than it can handle them',
      registers,
      collect() {
        this.set(waitingTurn());
      },
    });
    this.#passSeconds = new Histogram({
      name: 'dan_scheduling_pass_seconds',
      help: 'How long each scheduling pass took: what to send to which node, worked out on the event loop (it grows with the queue\'s front and the nodes)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25],
      registers,
    });
    // prom-client's own `nodejs_eventloop_lag_p99_seconds` starts again at each scrape, so scrapes cannot be
    // summed over a span; counts per bucket can (`histogram_quantile(0.99, rate(…[5m]))`).
    this.#eventLoopDelay = new Histogram({
      name: 'dan_event_loop_delay_seconds',
      help: 'How late a timer due every 10 ms fires on the gateway\'s event loop: how long requests, node frames and scheduling passes wait behind other work',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1, 0.25, 1],
      registers,
    });
  }

  /** What the dispatcher tells, counted. */
  readonly dispatcherObserver: Required<DispatcherObserver> = {
    submitted: (kind: TaskKind) => this.#submitted.inc({ kind }),
    attemptEnded: (outcome: string) => this.#attempts.inc({ outcome }),
    finished: (_taskId: string, kind: TaskKind | null, state: string) => this.#finished.inc({ kind: kind ?? 'unknown', state }),
    passed: (ms: number) => this.#passSeconds.observe(ms / 1000),
  };

  /** Where `dan_http_requests_waiting` is read from (the app's turn admission). */
  countWaiting(waiting: () => number): void {
    this.#waitingTurn = waiting;
  }

  dispatched(ms: number): void {
    this.#dispatch.observe(ms / 1000);
  }

  /** A sample of the event loop meter (event-loop-meter.ts), ms late. */
  eventLoopDelayed(ms: number): void {
    this.#eventLoopDelay.observe(ms / 1000);
  }

  webhookTried(result: 'delivered' | 'retry' | 'failed'): void {
    this.#webhooks.inc({ result });
  }

  /**
   * `route`: the route's template (`/api/sd/task/:taskId`), or `unmatched`. The labelled children are
   * kept by a key of our own: prom-client hashes the label object on every call otherwise, a few
   * percent of a status answer's time.
   */
  answered(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let child = this.#answerChildren.get(key);
    if (!child) {
      child = { count: this.#requests.labels(method, route, String(status)), time: this.#requestSeconds.labels(method, route) };
      this.#answerChildren.set(key, child);
    }
    child.count.inc();
    child.time.observe(seconds);
  }
}
