/**
 * @module node/backends/comfyui/comfy-graph
 *
 * A ComfyUI API graph under construction: `add` appends a node and returns its
 * id, `out` makes a link `[id, index]` to one of its outputs. Ids count up from
 * 1 in the order nodes are added, so the same kind of task gives the same ids
 * every time, and ComfyUI's cache (keyed by node id and inputs) keeps a model
 * loaded from one task to the next.
 */
export type Link = [nodeId: string, outputIndex: number];
export type GraphInput = string | number | boolean | Link;

export interface GraphNode {
  class_type: string;
  inputs: Record<string, GraphInput>;
  _meta: { title: string };
}

export class ComfyGraph {
  readonly nodes: Record<string, GraphNode> = {};
  #next = 1;

  /** Adds a node; returns its id. */
  add(classType: string, inputs: Record<string, GraphInput>, title: string = classType): string {
    const id = String(this.#next++);
    this.nodes[id] = { class_type: classType, inputs, _meta: { title } };
    return id;
  }

  /** Ids of the nodes of `classType`, in the order they were added. */
  idsOf(classType: string): string[] {
    return Object.entries(this.nodes)
      .filter(([, node]) => node.class_type === classType)
      .map(([id]) => id);
  }
}

export function out(nodeId: string, index = 0): Link {
  return [nodeId, index];
}
