/**
 * @module sandbox/comfyui/object-info
 *
 * The node classes a ComfyUI sandbox has, and `/object_info` built from them
 * in ComfyUI's shape: per class `input` (`required`, `optional`), `input_order`,
 * `output`, `output_is_list`, `output_name`, `name`, `display_name`,
 * `description`, `python_module`, `category`, `output_node`. Combo choices are
 * read when asked, so an upload shows up in `LoadImage`'s list at once.
 */
import { customPackNodes, imageNodes } from './nodes-images.js';
import { createLoadedWeights, loaderNodes, type LoadedWeights } from './nodes-loaders.js';
import { samplingNodes } from './nodes-sampling.js';
import type { ComfyWorld, InputSpec, NodeClass } from './node-types.js';

export interface NodeRegistry {
  classes: ReadonlyMap<string, NodeClass>;
  weights: LoadedWeights;
}

export function createNodeRegistry(world: ComfyWorld): NodeRegistry {
  const weights = createLoadedWeights();
  const all = [...loaderNodes(weights), ...samplingNodes, ...imageNodes, ...customPackNodes(world.offerings.customNodes)];
  return { classes: new Map(all.map((node) => [node.name, node])), weights };
}

function inputInfo(spec: InputSpec, world: ComfyWorld): unknown[] {
  switch (spec.kind) {
    case 'link':
      return spec.tooltip ? [spec.type, { tooltip: spec.tooltip }] : [spec.type];
    case 'int': {
      const { default: value, min, max, step, controlAfterGenerate } = spec;
      return ['INT', { default: value, min, max, ...(step ? { step } : {}), ...(controlAfterGenerate ? { control_after_generate: true } : {}) }];
    }
    case 'float':
      return ['FLOAT', { default: spec.default, min: spec.min, max: spec.max, step: spec.step, ...(spec.round ? { round: spec.round } : {}) }];
    case 'string':
      return ['STRING', { multiline: spec.multiline, ...(spec.dynamicPrompts ? { dynamicPrompts: true } : {}), ...(spec.default === undefined ? {} : { default: spec.default }) }];
    case 'boolean':
      return ['BOOLEAN', { default: spec.default }];
    case 'combo': {
      const choices = [...spec.choices(world)];
      const options = { ...(spec.default === undefined ? {} : { default: spec.default }), ...(spec.imageUpload ? { image_upload: true } : {}) };
      if (spec.v3) return ['COMBO', { multiselect: false, options: choices, ...options }];
      return Object.keys(options).length > 0 ? [choices, options] : [choices];
    }
  }
}

function classInfo(node: NodeClass, world: ComfyWorld): Record<string, unknown> {
  const section = (inputs: Record<string, InputSpec> | undefined) =>
    Object.fromEntries(Object.entries(inputs ?? {}).map(([name, spec]) => [name, inputInfo(spec, world)]));
  return {
    input: { required: section(node.required), ...(node.optional ? { optional: section(node.optional) } : {}) },
    input_order: { required: Object.keys(node.required), ...(node.optional ? { optional: Object.keys(node.optional) } : {}) },
    output: node.outputs.map((o) => o.type),
    output_is_list: node.outputs.map(() => false),
    output_name: node.outputs.map((o) => o.name),
    name: node.name,
    display_name: node.displayName,
    description: node.description ?? '',
    python_module: node.pythonModule ?? 'nodes',
    category: node.category,
    output_node: node.outputNode ?? false,
  };
}

export function objectInfo(registry: NodeRegistry, world: ComfyWorld): Record<string, unknown> {
  return Object.fromEntries([...registry.classes.values()].map((node) => [node.name, classInfo(node, world)]));
}

export function objectInfoOf(registry: NodeRegistry, world: ComfyWorld, name: string): Record<string, unknown> {
  const node = registry.classes.get(name);
  return node ? { [name]: classInfo(node, world) } : {};
}
