/**
 * Issue 8's three reliability defects, each as a probe found it: a queue that
 * stalled after a task failed for good, one bad request that took a node (and
 * so a fleet) offline, and storage failures that stranded tasks or blamed
 * healthy nodes. The core in one process, nodes and the disk played by the test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SECOND } from '../../src/util/clock.js';
import { txt2img } from '../helpers/specs.js';
import { FailingStore } from '../helpers/failing-store.js';
import { overridden, runningOnOtherGateway } from '../helpers/store-overrides.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { type CoreWorld, createCoreWorld, fakeNodeKey, PNG_512 } from '../helpers/fake-nodes.js';

let world: CoreWorld;
afterEach(() => world.close());

const stored = async (id: string) => (await world.store.get(id))!;
/** A status as a client reads it: serialized (images held as bytes become base64 then). */
const answered = async (id: string) => JSON.parse(JSON.stringify(await world.status(id)));

describe('a task that fails for good', () => {
  it('frees its slot for the next queued task at once, without waiting for another event', async () => {
    world = createCoreWorld();
    const node = world.connect('only');
    const doomed = await world.submit();
    const next = await world.submit();
    await node.assignment(doomed);
    expect(await world.status(next)).toMatchObject({ status: 0, queuePosition: 1 });
    node.fail(doomed, 'DAN_ERR_BACKEND_REJECTED', 'WebUI 422: lora not found: no_such_lora');
    await node.assignment(next);
    expect(await world.status(doomed)).toMatchObject({ status: 3, error: 'DAN_ERR_BACKEND_REJECTED' });
    expect(await world.status(next)).toMatchObject({ status: 1 });
  });

  it('frees its slot too after its last attempt', async () => {
    world = createCoreWorld({ maxAttempts: 1 });
    const node = world.connect('only');
    const doomed = await world.submit();
    const next = await world.submit();
    await node.assignment(doomed);
    node.fail(doomed, 'DAN_ERR_BACKEND_FAILED', 'CUDA out of memory');
    await node.assignment(next);
    expect(await world.status(doomed)).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED' });
  });
});

describe('a request that makes every WebUI fail', () => {
  /** Runs a task that fails on whichever node gets it; resolves with its final status. */
  async function runBadTask(nodes: ReturnType<CoreWorld['connect']>[]) {
    const id = await world.submit();
    for (let attempt = 1; ; attempt++) {
      const node = await Promise.race(nodes.map((n) => n.assignment(id, attempt).then(() => n)));
      node.fail(id, 'DAN_ERR_BACKEND_FAILED', 'cannot identify image file <_io.BytesIO object>');
      await world.settle();
      const view = await world.status(id);
      if (view.status === 3) return { view, attempts: attempt };
    }
  }

  it('fails it once it failed the same way on two nodes, and sets no node aside however often it is sent', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const nodes = [world.connect('a'), world.connect('b'), world.connect('c')];
    for (let i = 0; i < 4; i++) {
      const { view, attempts } = await runBadTask(nodes);
      expect(attempts).toBe(2);
      expect(view).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_FAILED' });
      expect(view.message).toMatch(/^failed the same way on nodes [abc] and [abc], so the request itself is the likely cause: cannot identify image file/);
    }
    expect(world.nodes.list().map((n) => n.state)).toEqual(['ready', 'ready', 'ready']);
    const good = await world.submit();
    const runner = await Promise.race(nodes.map((n) => n.assignment(good).then(() => n)));
    runner.succeed(good);
    await world.settle();
    expect(await world.status(good)).toMatchObject({ status: 2 });
  });

  it('still sets aside a node that fails tasks that succeed elsewhere', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const broken = world.connect('broken');
    for (let i = 0; i < 3; i++) {
      const id = await world.submit();
      await broken.assignment(id, 1);
      // The broken node says its WebUI went down, then fails the task: the retry waits for another node.
      broken.backend(false, 'WebUI restarting');
      broken.fail(id, 'DAN_ERR_BACKEND_FAILED', 'CUDA error: an illegal memory access');
      // Another node joins for the retry, runs it, and leaves: the task was fine, the failure was the node's.
      const healthy = world.connect('healthy');
      await healthy.assignment(id, 2);
      broken.backend(true);
      healthy.succeed(id);
      healthy.leave();
      await world.settle();
      expect(await world.status(id)).toMatchObject({ status: 2 });
    }
    expect(world.nodes.list()).toMatchObject([{ name: 'broken', state: 'set-aside', problem: 'CUDA error: an illegal memory access' }]);
  });

  it('sets aside an impostor that takes a good node\'s name, not the good node: a node is known by the key it keeps', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const good = world.connect('gpu-1');
    const impostor = world.connect('gpu-1', undefined, 1, fakeNodeKey('someone else'));
    for (let i = 0; i < 3; i++) {
      // Only the impostor is free when the task comes; it fails it, and the good node runs the retry.
      good.backend(false, 'busy elsewhere');
      const id = await world.submit();
      await impostor.assignment(id, 1);
      impostor.backend(false, 'WebUI restarting');
      impostor.fail(id, 'DAN_ERR_BACKEND_FAILED', 'CUDA error: an illegal memory access');
      good.backend(true);
      await good.assignment(id, 2);
      impostor.backend(true);
      good.succeed(id);
      await world.settle();
      expect(await world.status(id)).toMatchObject({ status: 2 });
    }
    const idOf = async (node: typeof good) => ((await node.next((m): m is Extract<typeof m, { type: 'welcome' }> => m.type === 'welcome')) as { nodeId: string }).nodeId;
    const states = world.nodes.list().map((n) => ({ id: n.id, state: n.state }));
    expect(states).toEqual(expect.arrayContaining([{ id: await idOf(impostor), state: 'set-aside' }, { id: await idOf(good), state: 'ready' }]));
  });
});

describe('storage failures', () => {
  let disk: FailingStore;
  const failingWorld = (options: Parameters<typeof createCoreWorld>[0] = {}) =>
    createCoreWorld({ ...options, store: (inner) => (disk = new FailingStore(inner)) });

  it('refuses a submit it cannot store, with a 503 error, and holds nothing of it', async () => {
    world = failingWorld();
    world.connect('a');
    disk.failing.add('insert');
    await expect(world.submit()).rejects.toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect(world.dispatcher.queuedCount + world.dispatcher.runningCount).toBe(0);
  });

  it('takes back a task the pass had already placed on a node when its insert fails late, freeing the slot', async () => {
    world = failingWorld();
    const node = world.connect('a');
    disk.failing.add('insert');
    disk.late = true;
    await expect(world.submit()).rejects.toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE' });
    await world.settle();
    expect(node.assignments()).toEqual([]);
    expect(world.dispatcher.queuedCount + world.dispatcher.runningCount).toBe(0);
    expect(world.dispatcher.unfinishedOf('')).toBe(0);
    disk.failing.delete('insert');
    const id = await world.submit();
    expect(await node.assignment(id)).toMatchObject({ attempt: 1 });
  });

  it('keeps a task queued, unsent and blamed on no node while its start cannot be stored, and sends it once the store is back', async () => {
    world = failingWorld();
    const node = world.connect('a');
    disk.failing.add('markRunning');
    const id = await world.submit();
    await world.settle();
    expect(node.assignments()).toEqual([]);
    expect(await world.status(id)).toMatchObject({ status: 0, queuePosition: 1 });
    // Starts are tried again after 1 s, then 2 s, 4 s…: the node is never blamed nor set aside.
    await world.clock.advance(7 * SECOND);
    expect(disk.refused.get('markRunning')).toBe(4);
    expect(world.nodes.list()).toMatchObject([{ name: 'a', state: 'ready', problem: null }]);
    expect(node.assignments()).toEqual([]);
    disk.failing.delete('markRunning');
    await world.clock.advance(8 * SECOND);
    // The starts not written used up attempt numbers, not attempts: none counts as a failure.
    const sent = await node.assignment(id);
    expect(await stored(id)).toMatchObject({ state: 'running', attempts: sent.attempt });
    node.fail(id, 'DAN_ERR_BACKEND_FAILED', 'CUDA error');
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 1 });
  });

  it('answers a result it cannot store from memory, and stores it once the store is back', async () => {
    world = failingWorld();
    const node = world.connect('a');
    const id = await world.submit();
    await node.assignment(id);
    disk.failing.add('complete');
    const waiting = world.service.waitForOutcome(id, 60 * SECOND);
    node.succeed(id);
    expect(await waiting).toMatchObject({ state: 'succeeded' });
    await world.clock.advance(3 * SECOND);
    expect(disk.refused.get('complete')).toBeGreaterThanOrEqual(2);
    expect(await answered(id)).toMatchObject({ status: 2, images: [PNG_512], seeds: [1] });
    expect(await stored(id)).toMatchObject({ state: 'running' });
    disk.failing.delete('complete');
    await world.clock.advance(30 * SECOND);
    // The retried write commits with the writes of its turn of the event loop.
    await world.settle();
    expect(await stored(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(await answered(id)).toMatchObject({ status: 2, images: [PNG_512], seeds: [1] });
  });

  it('retries a task on another node though its requeue could not be stored', async () => {
    world = failingWorld();
    const a = world.connect('a');
    const b = world.connect('b');
    const id = await world.submit();
    const first = await Promise.race([a, b].map((n) => n.assignment(id, 1).then(() => n)));
    const other = first === a ? b : a;
    disk.failing.add('requeue');
    first.leave();
    await other.assignment(id, 2);
    disk.failing.delete('requeue');
    other.succeed(id);
    await world.settle();
    expect(await stored(id)).toMatchObject({ state: 'succeeded', attempts: 2 });
  });
});

describe('a restart', () => {
  it('orders the tasks it reads back at their keys\' weights, as when they were submitted', async () => {
    world = createCoreWorld({ weightOf: (owner) => (owner === 'key_heavy' ? 4 : 1) });
    // Stored before the restart, alternating between two keys, oldest first.
    for (let i = 0; i < 10; i++) {
      const owner = i % 2 === 0 ? 'key_heavy' : 'key_light';
      await world.store.insert({ id: `old-${i}`, kind: 'txt2img', spec: txt2img(), owner, createdAt: world.clock.now() + i });
    }
    await world.dispatcher.recover();
    const node = world.connect('a');
    const owners: string[] = [];
    for (let n = 0; n < 5; n++) {
      await world.settle();
      const sent = node.assignments().at(-1)!;
      owners.push(sent.taskId);
      node.succeed(sent.taskId);
    }
    // Weight 4 against 1: four of the first five go to the heavy key (alternating, at weight 1 each, would give three).
    expect(owners.filter((id) => Number(id.slice(4)) % 2 === 0)).toHaveLength(4);
  });
});

describe('gateways sharing a store', () => {
  it('keeps a task whose insert committed while a resync read the store without it', async () => {
    let openInsert!: () => void;
    let openList!: () => void;
    const insertHeld = new Promise<void>((resolve) => (openInsert = resolve));
    const listHeld = new Promise<void>((resolve) => (openList = resolve));
    world = createCoreWorld({
      shared: { runsElsewhere: () => false, servableElsewhere: () => false, wantProgress: () => {}, progressed: () => {} },
      // The insert waits; the resync's read is taken before it commits and comes back after.
      store: (inner) =>
        new Proxy(inner, {
          get(target, property) {
            if (property === 'insert') {
              return async (task: Parameters<typeof inner.insert>[0]) => {
                await insertHeld;
                return target.insert(task);
              };
            }
            if (property === 'listUnfinished') {
              return async () => {
                const read = await target.listUnfinished();
                await listHeld;
                return read;
              };
            }
            const value: unknown = Reflect.get(target, property);
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        }),
    });
    const submitted = world.dispatcher.submit({ id: 'fresh', kind: 'txt2img', spec: txt2img(), owner: 'anon:x', maxTasks: 0 });
    await world.settle();
    const resyncing = world.dispatcher.resync();
    await world.settle();
    openInsert();
    await submitted;
    openList();
    await resyncing;
    expect(world.dispatcher.liveStatus('fresh')).toMatchObject({ state: 'queued' });
    expect(world.dispatcher.unfinishedOf('anon:x')).toBe(1);
    const node = world.connect('a');
    expect(await node.assignment('fresh')).toMatchObject({ attempt: 1 });
  });
});

describe('a task running on another gateway\'s node that does not answer', () => {
  it('holds only the first status answer for that gateway\'s word, not every poll', async () => {
    const asked: string[] = [];
    world = createCoreWorld({
      shared: { runsElsewhere: () => true, servableElsewhere: () => false, wantProgress: (taskId: string) => asked.push(taskId), progressed: () => {} },
      store: runningOnOtherGateway,
    });
    await world.store.insert({ id: 'far', kind: 'txt2img', spec: txt2img(), owner: 'anon:x', createdAt: world.clock.now() });
    await world.store.markRunning('far', 1, 'gpu-0a1b2c', world.clock.now());
    await world.dispatcher.recover();
    expect(world.dispatcher.liveStatus('far')).toMatchObject({ state: 'running' });
    // The first answer waits (here 30 ms) for a word that never comes; the ask goes out once.
    await world.dispatcher.progressFromElsewhere('far', 30);
    const later = world.dispatcher.progressFromElsewhere('far', 60 * SECOND).then(() => 'answered');
    const held = new Promise((resolve) => setTimeout(() => resolve('held'), SECOND).unref());
    expect(await Promise.race([later, held])).toBe('answered');
    expect(asked).toEqual(['far']);
  });
});

describe('a task that ended through another gateway, its outcome unreadable for a moment', () => {
  it('still frees its node for the next task and tells its live streams', async () => {
    let storeDown = false;
    world = createCoreWorld({
      shared: { runsElsewhere: () => false, servableElsewhere: () => false, wantProgress: () => {}, progressed: () => {} },
      store: (inner) => overridden(inner, (method) => (method === 'get' && storeDown ? async () => Promise.reject(new Error('connection terminated')) : undefined)),
    });
    const a = world.connect('a');
    const first = await world.submit();
    const next = await world.submit();
    await a.assignment(first, 1);
    // A sync request waits for the first; a live stream follows it.
    const waiting = world.dispatcher.waitFor(first, 60 * SECOND);
    let told = 0;
    world.dispatcher.watch(first, () => (told += 1));
    // Cancelled through another gateway; its row read back fails.
    storeDown = true;
    await world.dispatcher.endedElsewhere(first);
    expect(told).toBeGreaterThan(0);
    storeDown = false;
    expect(a.cancels()).toContain(first);
    expect(await a.assignment(next, 1)).toMatchObject({ taskId: next });
    expect(world.log.lines.some((l) => l.message.startsWith('could not read the outcome of a task that ended through another gateway'))).toBe(true);
    void waiting;
  });
});

describe('a requeue the store refuses because the task moved on through another gateway', () => {
  it('reads the row again until it can, and then holds the task as running there, not queued here', async () => {
    let breakNextRead = false;
    let failedReads = 0;
    world = createCoreWorld({
      maxAttempts: 3,
      shared: { runsElsewhere: () => true, servableElsewhere: () => false, wantProgress: () => {}, progressed: () => {} },
      // The first read of the row once the node failed fails (the database away a moment).
      store: (inner) =>
        overridden(inner, (method) =>
          method === 'get' && breakNextRead
            ? async () => {
                breakNextRead = false;
                failedReads += 1;
                throw new Error('connection terminated');
              }
            : undefined,
        ),
    });
    const a = world.connect('a');
    const id = await world.submit();
    await a.assignment(id, 1);
    // Meanwhile another gateway started attempt 2 on its own node (its notice lost): the row says so.
    expect(await world.store.markRunning(id, 2, 'gpu-0a1b2c', world.clock.now())).toBe(true);
    breakNextRead = true;
    // Its node's WebUI goes down and the task fails: no start here follows that would meet the row too.
    a.backend(false, 'WebUI down');
    await world.settle();
    a.fail(id, 'DAN_ERR_BACKEND_FAILED', 'out of memory', 1);
    await world.settle();
    expect(failedReads).toBe(1);
    await world.clock.advance(6 * SECOND);
    await world.settle();
    expect(world.dispatcher.liveStatus(id)).toMatchObject({ state: 'running', nodeId: '' });
  });
});

describe('a start the store refuses because another gateway started the task', () => {
  it('tells the task\'s live streams at once that it runs elsewhere, before the row is read again', async () => {
    let openRead!: () => void;
    const readHeld = new Promise<void>((resolve) => (openRead = resolve));
    let holdReads = false;
    world = createCoreWorld({
      shared: { runsElsewhere: () => true, servableElsewhere: () => false, wantProgress: () => {}, progressed: () => {} },
      // Another gateway's start of attempt 1 landed first: this one's is refused.
      store: (inner) =>
        overridden(inner, (method, store) => {
          if (method === 'markRunning') return async () => false;
          if (method === 'get' && holdReads) return async (id: string) => (await readHeld, store.get(id));
          return undefined;
        }),
    });
    const id = await world.submit();
    let told = 0;
    world.dispatcher.watch(id, () => (told += 1));
    holdReads = true;
    world.connect('a');
    await world.settle();
    expect(world.dispatcher.liveStatus(id)).toMatchObject({ state: 'running', nodeId: '' });
    expect(told).toBeGreaterThan(0);
    openRead();
  });
});

describe('a task put back while its start was still being written (gateways sharing a store)', () => {
  it('is queued here again once the row, written late, names this gateway: no other gateway would ever end it', async () => {
    let landStart!: () => void;
    const startHeld = new Promise<void>((resolve) => (landStart = resolve));
    let started!: () => void;
    const startLanded = new Promise<void>((resolve) => (started = resolve));
    world = createCoreWorld({
      shared: { runsElsewhere: () => false, startedHere: (task) => task.runningOn === 'gw_self', servableElsewhere: () => false, wantProgress: () => {}, progressed: () => {} },
      store: (inner) =>
        overridden(inner, (method, store) => {
          // The start's write is slow to land; a read of the row waits for it (it lands between the refused
          // requeue and the read that follows), and reads it back naming this gateway, as PostgreSQL does.
          if (method === 'markRunning') return async (...args: Parameters<TaskStore['markRunning']>) => (await startHeld, (await store.markRunning(...args)) && (started(), true));
          if (method === 'get') return async (id: string) => (await startLanded, store.get(id).then((task) => task && { ...task, runningOn: task.state === 'running' ? 'gw_self' : null }));
          return undefined;
        }),
    });
    const a = world.connect('a');
    const id = await world.submit();
    await world.settle();
    // Its node goes before the start is written: the task is put back; the requeue finds the row not running yet.
    a.leave();
    await world.settle();
    landStart();
    await world.settle();
    await world.settle();
    expect(world.dispatcher.liveStatus(id)).toMatchObject({ state: 'queued' });
    const b = world.connect('b');
    expect(await b.assignment(id)).toMatchObject({ taskId: id });
  });
});
