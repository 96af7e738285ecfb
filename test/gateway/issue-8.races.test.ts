/**
 * Issue 8, found in review of the new core: paths where a store in trouble, a
 * socket going away or a start the store refuses left a task stuck, blamed a
 * node or burnt attempts. The core in one process, nodes and the disk played
 * by the test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DanError } from '../../src/errors/dan-error.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { MINUTE, SECOND } from '../../src/util/clock.js';
import { FailingStore } from '../helpers/failing-store.js';
import { type CoreWorld, createCoreWorld, TEST_CALLER } from '../helpers/fake-nodes.js';
import { chillout, txt2img } from '../helpers/specs.js';

let world: CoreWorld;
let disk: FailingStore | undefined;
afterEach(async () => {
  disk?.failing.clear();
  disk = undefined;
  await world.close();
});

const failingWorld = (options: Parameters<typeof createCoreWorld>[0] = {}) =>
  createCoreWorld({ ...options, store: (inner) => (disk = new FailingStore(inner)) });
const spec = () => txt2img({ model: chillout });

/** A store whose `markRunning` the test answers (any store but SQLite's answers later). */
function storeWithMarkRunning(answer: (inner: TaskStore, args: Parameters<TaskStore['markRunning']>) => Promise<boolean>) {
  return (inner: TaskStore): TaskStore =>
    new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'markRunning') return (...args: Parameters<TaskStore['markRunning']>) => answer(target, args);
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
}

describe('an outcome the store cannot write yet', () => {
  it('does not hold up the next queued task', async () => {
    world = failingWorld();
    const node = world.connect('only');
    const doomed = await world.submit();
    const next = await world.submit();
    await node.assignment(doomed);
    disk!.failing.add('fail');
    node.fail(doomed, 'DAN_ERR_BACKEND_REJECTED', 'WebUI 422: lora not found');
    await world.settle();
    expect(node.assignments().map((m) => m.taskId)).toEqual([doomed, next]);
  });

  it('does not hold up a cancel: it is answered from memory', async () => {
    world = failingWorld();
    const node = world.connect('a');
    const id = await world.submit(spec());
    await node.assignment(id);
    disk!.failing.add('cancel');
    expect(await world.service.cancel(id, TEST_CALLER)).toMatchObject({ status: 4, error: 'DAN_ERR_TASK_CANCELLED' });
    disk!.failing.delete('cancel');
    await world.clock.advance(MINUTE);
    expect((await world.store.get(id))?.state).toBe('cancelled');
  });

  it('does not keep a lost node\'s other tasks running', async () => {
    world = failingWorld({ maxAttempts: 1 });
    const node = world.connect('a', undefined, 2);
    const first = await world.submit();
    const second = await world.submit();
    await node.assignment(first);
    await node.assignment(second);
    disk!.failing.add('fail');
    node.leave();
    await world.settle();
    expect(world.dispatcher.runningCount).toBe(0);
    for (const id of [first, second]) expect(await world.status(id)).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED' });
  });
});

describe('a start the store could not record', () => {
  it('leaves the task free to run on the node it was planned on once the store is back', async () => {
    world = failingWorld();
    const busy = world.connect('b');
    await busy.assignment(await world.submit(spec()));
    const free = world.connect('a');
    disk!.failing.add('markRunning');
    const id = await world.submit(spec());
    await world.settle();
    expect(free.assignments()).toEqual([]);
    disk!.failing.delete('markRunning');
    await world.clock.advance(2 * SECOND);
    expect(free.assignments().map((m) => m.taskId)).toEqual([id]);
  });

  it('is retried on another node when its node was lost while the store was writing', async () => {
    let rejectFirst: ((error: unknown) => void) | undefined;
    let calls = 0;
    world = createCoreWorld({
      store: storeWithMarkRunning((inner, args) => (++calls === 1 ? new Promise((_, reject) => (rejectFirst = reject)) : inner.markRunning(...args))),
    });
    const a = world.connect('a');
    const id = await world.submit();
    await world.settle();
    const b = world.connect('b');
    a.disconnect();
    await world.settle();
    rejectFirst!(new DanError('DAN_ERR_STORE_UNAVAILABLE', 'disk full'));
    await world.clock.advance(2 * SECOND);
    expect((await b.assignment(id)).taskId).toBe(id);
    b.succeed(id);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'succeeded' });
  });

  it('fails the task alone, stored as failed, when the store refuses it (a bug of ours), and starts go on', async () => {
    let refuse = true;
    world = createCoreWorld({ store: storeWithMarkRunning((inner, args) => (refuse ? Promise.resolve(false) : inner.markRunning(...args))) });
    const node = world.connect('a');
    const id = await world.submit();
    await world.settle();
    refuse = false;
    expect(await world.store.get(id)).toMatchObject({ state: 'failed', error: { id: 'DAN_ERR_INTERNAL' } });
    const next = await world.submit();
    expect((await node.assignment(next)).taskId).toBe(next);
  });
});

describe('nodes that go', () => {
  it('do not burn a task\'s attempts when the node it is retried on is closing too', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a');
    const b = world.connect('b');
    const id = await world.submit();
    const first = await Promise.race([a, b].map((n) => n.assignment(id, 1).then(() => n)));
    const other = first === a ? b : a;
    other.socket.readyState = 2; // CLOSING: its close event is still to come
    first.leave();
    await world.settle();
    expect(other.assignments()).toEqual([]);
    expect(await world.status(id)).toMatchObject({ status: 0 });
    expect((await world.store.get(id))?.state).toBe('queued');
  });

  it('at gateway shutdown leave their tasks unfinished in the store, to run again after the restart', async () => {
    world = createCoreWorld({ maxAttempts: 1 });
    const node = world.connect('a');
    const id = await world.submit();
    await node.assignment(id);
    const closing = world.dispatcher.close();
    world.hub.close();
    await closing;
    expect((await world.store.get(id))?.state).toBe('running');
  });

  it('leave a retried task to the node it failed on when the only other node that could run it takes no work', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a');
    const b = world.connect('b');
    b.backend(false, 'WebUI unreachable');
    await world.settle();
    const id = await world.submit();
    await a.assignment(id, 1);
    a.fail(id, 'DAN_ERR_BACKEND_FAILED', 'CUDA error');
    expect((await a.assignment(id, 2)).attempt).toBe(2);
  });
});
