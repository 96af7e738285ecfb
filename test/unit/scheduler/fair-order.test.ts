import { describe, expect, it } from 'vitest';
import { compareTags, FairOrder } from '../../../src/scheduler/fair-order.js';
import { node, schedulerWith, task } from './scheduler-helpers.js';

describe('fair order between API keys', () => {
  it('a key with a big backlog does not lock out a key with one task', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a')]);
    for (let i = 0; i < 200; i++) scheduler.enqueue(task(`big-${i}`, 'big'), 0);
    scheduler.enqueue(task('small-0', 'small'), 0);
    expect(scheduler.position('small-0')).toBeLessThanOrEqual(2);
    expect(scheduler.position('big-199')).toBe(201);
  });

  it('interleaves keys by the work they ask for, FIFO within a key', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a')]);
    for (let i = 0; i < 3; i++) scheduler.enqueue(task(`a${i}`, 'A'), 0);
    for (let i = 0; i < 3; i++) scheduler.enqueue(task(`b${i}`, 'B'), 0);
    expect(scheduler.queuedIds()).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  });

  it('a key asking for bigger tasks gets proportionally fewer of them ahead', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a')]);
    for (let i = 0; i < 3; i++) scheduler.enqueue(task(`big${i}`, 'A', { steps: 60 }), 0);
    for (let i = 0; i < 3; i++) scheduler.enqueue(task(`small${i}`, 'B', { steps: 20 }), 0);
    expect(scheduler.queuedIds().slice(0, 4)).toEqual(['big0', 'small0', 'small1', 'small2']);
  });

  it('serves a key of weight 2 twice the work of a key of weight 1 while both wait', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a')]);
    for (let i = 0; i < 6; i++) scheduler.enqueue({ ...task(`h${i}`, 'heavy'), weight: 2 }, 0);
    for (let i = 0; i < 6; i++) scheduler.enqueue(task(`l${i}`, 'light'), 0);
    const firstNine = scheduler.queuedIds().slice(0, 9);
    expect(firstNine.filter((id) => id.startsWith('h'))).toHaveLength(6);
    expect(firstNine.filter((id) => id.startsWith('l'))).toHaveLength(3);
  });

  it('tags never change: the order of two queued tasks never flips', () => {
    const order = new FairOrder();
    const first = order.tag('A', 5);
    const second = order.tag('A', 5);
    order.started(first);
    const third = order.tag('B', 5, { queueHead: second.start });
    expect(compareTags(first, second)).toBeLessThan(0);
    expect(compareTags(second, third)).toBeLessThan(0);
  });

  it('priority goes ahead, and ageing keeps a low priority from waiting forever', () => {
    const order = new FairOrder({ priorityBoostSeconds: 10 });
    const low = order.tag('low', 1);
    const urgent = order.tag('high', 1, { priority: 1 });
    expect(compareTags(urgent, low)).toBeLessThan(0);
    // Once more than the boost's worth of work has been queued, new urgent work goes behind the old task.
    const later = order.tag('high', 30, { priority: 1 });
    const latest = order.tag('high', 1, { priority: 1 });
    expect(compareTags(later, low)).toBeLessThan(0);
    expect(compareTags(latest, low)).toBeGreaterThan(0);
  });
});
