/**
 * @module sandbox/comfyui/prompt-validation
 *
 * `POST /prompt`'s checks, the way ComfyUI's `execution.validate_prompt` makes
 * them: every node names an existing class; the graph has an output node;
 * then, from each output node back through its links, every required input
 * is present, every link is `[node_id, output_index]` to a node whose output
 * has the input's type, literals convert to the input's type and lie within
 * its range, and combo values are among the choices. Errors are collected per
 * node (`node_errors`) with the outputs that depend on it.
 *
 * Stricter than ComfyUI in one place (`sandbox_strict`): a literal where a link
 * type such as `MODEL` is expected is refused here; ComfyUI would only fail
 * when the node runs.
 */
import type { ComfyWorld, InputSpec } from './node-types.js';
import type { NodeRegistry } from './object-info.js';

export interface ComfyError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export interface NodeErrors {
  errors: ComfyError[];
  dependent_outputs: string[];
  class_type: string;
}

export type GraphNode = { class_type: string; inputs: Record<string, unknown> };
export type Graph = Record<string, GraphNode>;

export type Validation =
  | { ok: true; graph: Graph; outputs: string[]; nodeErrors: Record<string, NodeErrors> }
  | { ok: false; error: ComfyError; nodeErrors: Record<string, NodeErrors> };

function comfyError(type: string, message: string, details: string, extra: Record<string, unknown> = {}): ComfyError {
  return { type, message, details, extra_info: extra };
}

function pythonRepr(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`;
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (value === null) return 'None';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? 'None';
}

/** The first pass: classes exist, nodes are objects; null when the graph cannot be read at all. */
function checkNodes(prompt: Record<string, unknown>, registry: NodeRegistry): { error: ComfyError } | { graph: Graph; outputs: string[] } {
  const graph: Graph = {};
  const outputs: string[] = [];
  for (const [id, raw] of Object.entries(prompt)) {
    const node = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
    const classType = node['class_type'];
    const title = (node['_meta'] as { title?: unknown } | undefined)?.title;
    const nodeTitle = typeof title === 'string' ? title : null;
    const extra = { node_id: id, class_type: typeof classType === 'string' ? classType : null, node_title: nodeTitle };
    if (typeof classType !== 'string') {
      const message = `Node '${nodeTitle ?? `ID #${id}`}' has no class_type. The workflow may be corrupted or a custom node is missing.`;
      return { error: comfyError('missing_node_type', message, `Node ID '#${id}'`, extra) };
    }
    const nodeClass = registry.classes.get(classType);
    if (!nodeClass) {
      const message = `Node '${nodeTitle ?? classType}' not found. The custom node may not be installed.`;
      return { error: comfyError('missing_node_type', message, `Node ID '#${id}'`, extra) };
    }
    const inputs = node['inputs'];
    graph[id] = { class_type: classType, inputs: typeof inputs === 'object' && inputs !== null && !Array.isArray(inputs) ? (inputs as Record<string, unknown>) : {} };
    if (nodeClass.outputNode) outputs.push(id);
  }
  if (outputs.length === 0) return { error: comfyError('prompt_no_outputs', 'Prompt has no outputs', '') };
  return { graph, outputs };
}

class InputChecker {
  readonly #results = new Map<string, boolean>();
  readonly errors = new Map<string, ComfyError[]>();

  constructor(
    readonly graph: Graph,
    readonly registry: NodeRegistry,
    readonly world: ComfyWorld,
  ) {}

  /** Whether node `id` and everything it links to is valid; errors land on the node they belong to. */
  check(id: string): boolean {
    const known = this.#results.get(id);
    if (known !== undefined) return known;
    // A cycle reads as valid here; ComfyUI finds it when it plans the run.
    this.#results.set(id, true);
    const node = this.graph[id]!;
    const nodeClass = this.registry.classes.get(node.class_type)!;
    const errors: ComfyError[] = [];
    let valid = true;
    const specs: [string, InputSpec, boolean][] = [
      ...Object.entries(nodeClass.required).map(([n, s]): [string, InputSpec, boolean] => [n, s, true]),
      ...Object.entries(nodeClass.optional ?? {}).map(([n, s]): [string, InputSpec, boolean] => [n, s, false]),
    ];
    for (const [name, spec, required] of specs) {
      if (!(name in node.inputs)) {
        if (required) errors.push(comfyError('required_input_missing', 'Required input is missing', name, { input_name: name }));
        continue;
      }
      const value = node.inputs[name];
      if (Array.isArray(value)) {
        if (!this.#checkLink(name, spec, value, errors)) valid = false;
        continue;
      }
      const converted = convert(name, spec, value);
      if ('error' in converted) {
        errors.push(converted.error);
        continue;
      }
      node.inputs[name] = converted.value;
      // Inputs a node checks itself (its VALIDATE_INPUTS) skip the range and list checks.
      const problem = nodeClass.validates?.includes(name) ? null : this.#checkValue(name, spec, converted.value);
      if (problem) errors.push(problem);
    }
    if (errors.length === 0 && nodeClass.validate) {
      const problem = nodeClass.validate(node.inputs, this.world);
      if (problem) errors.push(comfyError('custom_validation_failed', 'Custom validation failed for node', `${problem.input} - ${problem.message}`, { input_name: problem.input }));
    }
    if (errors.length > 0) this.errors.set(id, errors);
    const result = valid && errors.length === 0;
    this.#results.set(id, result);
    return result;
  }

  #checkLink(name: string, spec: InputSpec, value: unknown[], errors: ComfyError[]): boolean {
    const [from, index] = value;
    if (value.length !== 2 || (typeof from !== 'string' && typeof from !== 'number') || !Number.isInteger(index)) {
      errors.push(comfyError('bad_linked_input', 'Bad linked input, must be a length-2 list of [node_id, slot_index]', name, { input_name: name, input_config: null, received_value: value }));
      return false;
    }
    const source = this.graph[String(from)];
    if (!source) {
      const details = `KeyError: '${String(from)}'`;
      errors.push(comfyError('exception_during_inner_validation', 'Exception when validating inner node', details, { input_name: name, exception_type: 'KeyError' }));
      return false;
    }
    const sourceClass = this.registry.classes.get(source.class_type)!;
    const received = sourceClass.outputs[index as number]?.type;
    const expected = spec.kind === 'link' ? spec.type : spec.kind === 'combo' ? 'COMBO' : spec.kind.toUpperCase();
    if (received === undefined || received !== expected) {
      const details = `${name}, received_type(${received ?? 'None'}) mismatch input_type(${expected})`;
      errors.push(comfyError('return_type_mismatch', 'Return type mismatch between linked nodes', details, { input_name: name, received_type: received ?? null, linked_node: value }));
      return false;
    }
    return this.check(String(from));
  }

  #checkValue(name: string, spec: InputSpec, value: unknown): ComfyError | null {
    const extra = { input_name: name, input_config: null, received_value: value };
    if ((spec.kind === 'int' || spec.kind === 'float') && typeof value === 'number') {
      if (value < spec.min) return comfyError('value_smaller_than_min', `Value ${value} smaller than min of ${spec.min}`, name, extra);
      if (value > spec.max) return comfyError('value_bigger_than_max', `Value ${value} bigger than max of ${spec.max}`, name, extra);
    }
    if (spec.kind === 'combo') {
      const choices = spec.choices(this.world);
      if (typeof value === 'string' && choices.includes(value)) return null;
      const shown = choices.length > 20 ? `(list of length ${choices.length})` : pythonRepr([...choices]);
      return comfyError('value_not_in_list', 'Value not in list', `${name}: ${pythonRepr(value)} not in ${shown}`, extra);
    }
    return null;
  }
}

/** Python's `int(x)`: ints, floats truncated, booleans, and strings of an integer. */
function pythonInt(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && /^\s*[+-]?\d+(_\d+)*\s*$/.test(value)) return Number(value.replace(/_/g, ''));
  return null;
}

/** Python's `float(x)`. */
function pythonFloat(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) return Number(value);
  return null;
}

/** The literal converted as ComfyUI converts it (`int()`, `float()`, `str()`, `bool()`: so "false" is true), or why it cannot be. */
function convert(name: string, spec: InputSpec, value: unknown): { value: unknown } | { error: ComfyError } {
  const fail = (kind: string, why: string) => ({
    error: comfyError('invalid_input_type', `Failed to convert an input value to a ${kind} value`, `${name}, ${pythonRepr(value)}, ${why}`, {
      input_name: name,
      input_config: null,
      received_value: value,
      exception_message: why,
    }),
  });
  switch (spec.kind) {
    case 'link':
      // ComfyUI lets this through and fails when the node runs; the sandbox says so at once.
      return { error: comfyError('invalid_input_type', `Input ${name} takes a link to a ${spec.type} output, not a value`, `${name}, ${pythonRepr(value)}`, { input_name: name, sandbox_strict: true }) };
    case 'int': {
      const number = pythonInt(value);
      return number === null ? fail('INT', `invalid literal for int() with base 10: ${pythonRepr(value)}`) : { value: number };
    }
    case 'float': {
      const number = pythonFloat(value);
      return number === null ? fail('FLOAT', `could not convert string to float: ${pythonRepr(value)}`) : { value: number };
    }
    case 'string':
      return typeof value === 'object' && value !== null ? fail('STRING', 'not a string') : { value: typeof value === 'string' ? value : pythonRepr(value) };
    case 'boolean':
      return { value: typeof value === 'string' ? value !== '' : Boolean(value) };
    case 'combo':
      return { value };
  }
}

/** Validates `prompt` (the body's `prompt` object); on success the graph's literals are converted. */
export function validatePrompt(prompt: Record<string, unknown>, registry: NodeRegistry, world: ComfyWorld): Validation {
  const nodes = checkNodes(prompt, registry);
  if ('error' in nodes) return { ok: false, error: nodes.error, nodeErrors: {} };
  const checker = new InputChecker(nodes.graph, registry, world);
  const good: string[] = [];
  const failed: string[] = [];
  const dependents = new Map<string, string[]>();
  for (const output of nodes.outputs) {
    const before = new Set(checker.errors.keys());
    if (checker.check(output)) good.push(output);
    else failed.push(output);
    for (const id of checker.errors.keys()) if (!before.has(id) || id === output) dependents.set(id, [...(dependents.get(id) ?? []), output]);
  }
  const nodeErrors: Record<string, NodeErrors> = {};
  for (const [id, errors] of checker.errors) {
    nodeErrors[id] = { errors, dependent_outputs: [...new Set(dependents.get(id) ?? [])], class_type: nodes.graph[id]!.class_type };
  }
  if (good.length === 0) {
    const details = Object.values(nodeErrors)
      .flatMap((n) => n.errors.map((e) => `${e.message}: ${e.details}`))
      .join('\n');
    return { ok: false, error: comfyError('prompt_outputs_failed_validation', 'Prompt outputs failed validation', details), nodeErrors };
  }
  return { ok: true, graph: nodes.graph, outputs: good, nodeErrors };
}

