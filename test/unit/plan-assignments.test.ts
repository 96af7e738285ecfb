import { describe, expect, it } from 'vitest';
import { toNodeOffering } from '../../src/domain/offering.js';
import { type NodeView, planAssignments, type QueuedTaskView } from '../../src/scheduler/plan-assignments.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { chillout, clarity, txt2img } from '../helpers/specs.js';

const full = toNodeOffering(makeCapabilities());
const clarityOnly = toNodeOffering(makeCapabilities({ models: makeCapabilities().models.filter((m) => m.name === 'clarity') }));
const CLARITY = 'clarity.safetensors [627a6f5c8b]';
const CHILLOUT = 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]';

function node(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return { id, offering: full, freeSlots: 1, loadedModel: null, ...overrides };
}

function task(id: string, spec = txt2img(), failedOn: string[] = []): QueuedTaskView {
  return { id, spec, failedOn: new Set(failedOn) };
}

describe('planAssignments', () => {
  it('serves the queue in order while slots last', () => {
    const plan = planAssignments([task('t1'), task('t2'), task('t3')], [node('a'), node('b')]);
    expect(plan.map((a) => a.taskId)).toEqual(['t1', 't2']);
  });

  it('sends a task only to a node that can serve it, without blocking the tasks behind', () => {
    const plan = planAssignments([task('t1', txt2img({ model: chillout })), task('t2')], [node('a', { offering: clarityOnly })]);
    expect(plan).toEqual([expect.objectContaining({ taskId: 't2', nodeId: 'a' })]);
  });

  it('prefers the node that has the checkpoint loaded', () => {
    const plan = planAssignments([task('t1', txt2img({ model: chillout }))], [node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CHILLOUT })]);
    expect(plan[0]).toMatchObject({ taskId: 't1', nodeId: 'b', binding: { checkpoint: CHILLOUT } });
  });

  it('fills every slot of a multi-slot node', () => {
    const plan = planAssignments([task('t1'), task('t2'), task('t3')], [node('a', { freeSlots: 2 })]);
    expect(plan.map((a) => `${a.taskId}@${a.nodeId}`)).toEqual(['t1@a', 't2@a']);
  });

  it('avoids a node that already failed the task, but uses it when it is the only one', () => {
    expect(planAssignments([task('t1', txt2img({ model: clarity }), ['a'])], [node('a'), node('b')])[0]?.nodeId).toBe('b');
    expect(planAssignments([task('t1', txt2img(), ['a'])], [node('a')])[0]?.nodeId).toBe('a');
  });

  it('assigns nothing when no node has a free slot', () => {
    expect(planAssignments([task('t1')], [node('a', { freeSlots: 0 })])).toEqual([]);
  });
});
