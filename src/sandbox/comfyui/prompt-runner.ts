/**
 * @module sandbox/comfyui/prompt-runner
 *
 * ComfyUI's prompt queue and executor: one prompt at a time in the order
 * queued; the nodes an output needs run once each, inputs first; a node whose
 * class and inputs (links included) are as in the previous prompt is not run
 * again but taken from the cache (`execution_cached`), which is how a loaded
 * checkpoint stays loaded. Each prompt's events go to its client's socket,
 * and its outcome to the history: outputs of output nodes and status
 * messages. `interrupt` stops the running prompt at its next sampler step
 * (`execution_interrupted`); a node that throws ends it with
 * `execution_error`.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { JobQueue } from '../job-queue.js';
import type { RunningJob } from '../running-job.js';
import type { ComfySockets } from './comfy-messages.js';
import type { NodeRegistry } from './object-info.js';
import { InterruptedSampling } from './nodes-sampling.js';
import { NodeExecutionError, type ComfyValue, type ComfyWorld, type NodeResult, type UiOutput } from './node-types.js';
import type { Graph } from './prompt-validation.js';

export interface QueuedPrompt {
  id: string;
  number: number;
  graph: Graph;
  outputs: string[];
  clientId: string | null;
  extraData: Record<string, unknown>;
}

type StatusMessage = [string, Record<string, unknown>];

export interface HistoryEntry {
  prompt: [number, string, Graph, Record<string, unknown>, string[]];
  outputs: Record<string, UiOutput>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: StatusMessage[] };
  meta: Record<string, { node_id: string; display_node: string; parent_node: null; real_node_id: string }>;
}

interface CachedNode {
  signature: string;
  result: NodeResult;
}

/** Most history entries kept (ComfyUI keeps 10,000). */
const MAX_HISTORY = 10_000;

export class PromptRunner {
  readonly #pending: QueuedPrompt[] = [];
  #running: QueuedPrompt | null = null;
  #runningJob: RunningJob | null = null;
  readonly #history = new Map<string, HistoryEntry>();
  #cache = new Map<string, CachedNode>();
  #number = 0;
  #failNext = 0;
  executed = 0;

  constructor(
    readonly registry: NodeRegistry,
    readonly world: ComfyWorld,
    readonly queue: JobQueue,
    readonly sockets: ComfySockets,
  ) {}

  get queueRemaining(): number {
    return this.#pending.length + (this.#running ? 1 : 0);
  }

  enqueue(graph: Graph, outputs: string[], clientId: string | null, extraData: Record<string, unknown>, promptId?: string): { id: string; number: number } {
    const prompt: QueuedPrompt = { id: promptId ?? randomUUID(), number: this.#number++, graph, outputs, clientId, extraData };
    this.#pending.push(prompt);
    this.sockets.broadcastStatus(this.queueRemaining);
    void this.queue.run('prompt', (job) => this.#run(prompt, job));
    return { id: prompt.id, number: prompt.number };
  }

  /** `POST /interrupt`: the running prompt, when it is `promptId` or none is named. */
  interrupt(promptId: string | undefined): void {
    if (this.#running && (promptId === undefined || promptId === this.#running.id)) this.#runningJob?.interrupt();
  }

  /** `POST /queue {delete}`: drops prompts not started yet. */
  delete(ids: readonly string[]): void {
    for (const id of ids) {
      const at = this.#pending.findIndex((p) => p.id === id);
      if (at >= 0) this.#pending.splice(at, 1);
    }
    this.sockets.broadcastStatus(this.queueRemaining);
  }

  clear(): void {
    this.#pending.length = 0;
    this.sockets.broadcastStatus(this.queueRemaining);
  }

  failNext(count: number): void {
    this.#failNext = count;
  }

  history(id: string): HistoryEntry | undefined {
    return this.#history.get(id);
  }

  allHistory(): Record<string, HistoryEntry> {
    return Object.fromEntries(this.#history);
  }

  queueView(): { queue_running: unknown[]; queue_pending: unknown[] } {
    const row = (p: QueuedPrompt) => [p.number, p.id, p.graph, { ...p.extraData, client_id: p.clientId }, p.outputs];
    return { queue_running: this.#running ? [row(this.#running)] : [], queue_pending: this.#pending.map(row) };
  }

  async #run(prompt: QueuedPrompt, job: RunningJob): Promise<void> {
    const at = this.#pending.indexOf(prompt);
    if (at < 0) return; // deleted while it waited
    this.#pending.splice(at, 1);
    this.#running = prompt;
    this.#runningJob = job;
    try {
      await this.#execute(prompt, job);
    } finally {
      this.#running = null;
      this.#runningJob = null;
      this.sockets.broadcastStatus(this.queueRemaining);
      // The usual "done" marker, after errors and interrupts too.
      this.sockets.send(prompt.clientId, 'executing', { node: null, prompt_id: prompt.id });
    }
  }

  async #execute(prompt: QueuedPrompt, job: RunningJob): Promise<void> {
    const messages: StatusMessage[] = [];
    const emit = (type: string, data: Record<string, unknown>, record = true): void => {
      const stamped = { ...data, prompt_id: prompt.id, timestamp: Date.now() };
      if (record) messages.push([type, stamped]);
      this.sockets.send(prompt.clientId, type, stamped);
    };
    const order = this.#order(prompt);
    const signatures = this.#signatures(prompt.graph, order);
    const cached = order.filter((id) => this.#cache.get(id)?.signature === signatures.get(id));
    emit('execution_start', {});
    emit('execution_cached', { nodes: cached });
    const results = new Map<string, NodeResult>();
    const outputs: Record<string, UiOutput> = {};
    const executed: string[] = [];
    let failed = false;
    for (const id of order) {
      const node = prompt.graph[id]!;
      const hit = this.#cache.get(id);
      if (hit && hit.signature === signatures.get(id)) {
        results.set(id, hit.result);
        if (hit.result.ui) outputs[id] = hit.result.ui;
        continue;
      }
      const nodeClass = this.registry.classes.get(node.class_type)!;
      // ComfyUI checks for an interrupt before every node, not only between sampler steps.
      if (job.interrupted) {
        failed = true;
        emit('execution_interrupted', { node_id: id, node_type: node.class_type, executed });
        break;
      }
      this.sockets.send(prompt.clientId, 'executing', { node: id, display_node: id, prompt_id: prompt.id });
      const inputs = this.#resolveInputs(node.inputs, results);
      try {
        if (this.#failNext > 0 && node.class_type === 'KSampler') {
          this.#failNext -= 1;
          throw new NodeExecutionError('torch.OutOfMemoryError', 'Allocation on device (sandbox fault injection)');
        }
        const result = await nodeClass.run({
          id,
          inputs,
          world: this.world,
          job,
          onProgress: (value, max, preview) => {
            this.sockets.send(prompt.clientId, 'progress', { value, max, prompt_id: prompt.id, node: id });
            if (preview) this.sockets.sendPreview(prompt.clientId, preview);
          },
        });
        results.set(id, result);
        this.#cache.set(id, { signature: signatures.get(id)!, result });
        executed.push(id);
        if (result.ui) {
          outputs[id] = result.ui;
          this.sockets.send(prompt.clientId, 'executed', { node: id, display_node: id, output: result.ui, prompt_id: prompt.id });
        }
      } catch (error) {
        failed = true;
        this.#cache.delete(id);
        if (error instanceof InterruptedSampling) {
          emit('execution_interrupted', { node_id: id, node_type: node.class_type, executed });
        } else {
          const known = error instanceof NodeExecutionError;
          emit('execution_error', {
            node_id: id,
            node_type: node.class_type,
            executed,
            exception_message: (error as Error).message,
            exception_type: known ? error.exceptionType : 'Exception',
            traceback: [`  File "sandbox", in ${node.class_type}\n`],
            current_inputs: {},
            current_outputs: {},
          });
        }
        break;
      }
    }
    if (!failed) {
      emit('execution_success', {});
      this.executed += 1;
    }
    // The classic cache keeps the outputs of the last prompt's nodes only; weights no cached output holds are freed.
    this.#cache = new Map([...this.#cache].filter(([id]) => id in prompt.graph));
    const weights = this.registry.weights;
    const held = [...this.#cache.values()].some(({ result }) => result.outputs.some((o) => o.type === 'MODEL' && o.file === weights.file));
    if (!held) weights.file = null;
    this.#remember(prompt, outputs, failed, messages);
  }

  #remember(prompt: QueuedPrompt, outputs: Record<string, UiOutput>, failed: boolean, messages: StatusMessage[]): void {
    const meta = Object.fromEntries(Object.keys(outputs).map((id) => [id, { node_id: id, display_node: id, parent_node: null, real_node_id: id }]));
    this.#history.set(prompt.id, {
      prompt: [prompt.number, prompt.id, prompt.graph, { ...prompt.extraData, client_id: prompt.clientId }, prompt.outputs],
      outputs,
      status: { status_str: failed ? 'error' : 'success', completed: !failed, messages },
      meta,
    });
    if (this.#history.size > MAX_HISTORY) this.#history.delete(this.#history.keys().next().value as string);
  }

  /** The nodes the outputs need, each after the nodes it links to. */
  #order(prompt: QueuedPrompt): string[] {
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (id: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      for (const value of Object.values(prompt.graph[id]!.inputs)) if (Array.isArray(value)) visit(String(value[0]));
      order.push(id);
    };
    for (const output of prompt.outputs) visit(output);
    return order;
  }

  /** A node's cache key: its class, literal inputs, the keys of what it links to, and (LoadImage) the file's bytes. */
  #signatures(graph: Graph, order: readonly string[]): Map<string, string> {
    const signatures = new Map<string, string>();
    for (const id of order) {
      const node = graph[id]!;
      const parts = Object.entries(node.inputs).map(([name, value]) =>
        Array.isArray(value) ? [name, signatures.get(String(value[0])), value[1]] : [name, value],
      );
      let extra = '';
      if (node.class_type === 'LoadImage') {
        const data = this.world.files.read('input', '', String(node.inputs['image']));
        extra = data ? createHash('sha256').update(data).digest('hex') : '';
      }
      signatures.set(id, JSON.stringify([node.class_type, parts, extra]));
    }
    return signatures;
  }

  #resolveInputs(inputs: Record<string, unknown>, results: Map<string, NodeResult>): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(inputs).map(([name, value]): [string, unknown] => {
        if (!Array.isArray(value)) return [name, value];
        const output: ComfyValue | undefined = results.get(String(value[0]))?.outputs[value[1] as number];
        return [name, output];
      }),
    );
  }
}
