/**
 * The TaskStore contract (store/task-store.ts), run against both adapters: the
 * embedded SQLite store and the PostgreSQL store on the machine's real server
 * (a schema of its own per test). What one adapter's own tests cover (SQLite's
 * payload files and WAL, PostgreSQL's claims across connections) is in their
 * files; here is what every adapter must do alike.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStores } from '../../src/store/open-stores.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { IdempotencyKeyTaken, type NewTask, type TaskStore } from '../../src/store/task-store.js';
import { Base64Image } from '../../src/util/base64-image.js';
import { freshSchema, skipPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/processes.js';
import { txt2img } from '../helpers/specs.js';

interface Opened {
  store: TaskStore;
  /** The same storage opened again (another process, or after a restart). */
  reopen: () => Promise<TaskStore>;
}

type Adapter = () => Promise<Opened>;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sqlite: Adapter = async () => {
  const dir = tempDir();
  cleanups.push(() => dir.remove());
  const open = () => {
    const store = new SqliteTaskStore(dir.path);
    cleanups.push(() => store.close());
    return store;
  };
  return Promise.resolve({ store: open(), reopen: () => Promise.resolve(open()) });
};

const postgres: Adapter = async () => {
  const schema = await freshSchema();
  cleanups.push(() => schema.drop());
  const open = async () => {
    const stores = await openStores({ database: schema.url, dataDir: '' }, { listenForKeys: false });
    cleanups.push(() => stores.close());
    return stores.tasks;
  };
  return { store: await open(), reopen: open };
};

function newTask(id: string, createdAt = 1000, extra: Partial<NewTask> = {}): NewTask {
  return { id, kind: 'txt2img', spec: txt2img(), owner: 'key_test', createdAt, ...extra };
}

const png = (fill: number, size: number) => Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(size, fill)]);
/** As a client reads it: images as base64 text. */
const asJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

function contract(open: Adapter): void {
  it('keeps a task through its life and drops its input when it ends', async () => {
    const { store } = await open();
    await store.insert(newTask('t1'));
    expect(await store.get('t1')).toMatchObject({ state: 'queued', attempts: 0, spec: txt2img(), owner: 'key_test', createdAt: 1000, result: null });
    expect(await store.markRunning('t1', 1, 'node-a', 2000)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'running', attempts: 1, nodeId: 'node-a', startedAt: 2000 });
    expect(await store.complete('t1', 1, { kind: 'caption', caption: 'a fox' }, 3000)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'succeeded', spec: null, result: { kind: 'caption', caption: 'a fox' }, finishedAt: 3000, error: null });
    expect(await store.get('nope')).toBeUndefined();
  });

  it('gives back image results byte for byte, small and large, as bytes', async () => {
    const { store } = await open();
    const small = png(1, 100);
    const large = png(2, 200_000);
    for (const [id, images] of [['s', [small]], ['l', [large, small]]] as const) {
      await store.insert(newTask(id));
      await store.markRunning(id, 1, 'n', 1);
      await store.complete(id, 1, { kind: 'images', images: images.map((b) => new Base64Image(b)), seeds: images.map((_, i) => i + 7) }, 2);
      const result = (await store.get(id))?.result;
      expect(result?.kind === 'images' && result.images.every((i) => i instanceof Base64Image)).toBe(true);
      expect(asJson(result)).toEqual({ kind: 'images', images: images.map((b) => b.toString('base64')), seeds: images.map((_, i) => i + 7) });
    }
  });

  it('takes a start asked for while its task is being stored with that insert or after it, never before', async () => {
    const { store, reopen } = await open();
    // Asked in the same turn as the insert (the pass right after a submit), then once the insert is on its way.
    const inserting = store.insert(newTask('same-turn'));
    const started = store.markRunning('same-turn', 1, 'node-a', 2000);
    const second = store.insert(newTask('next-turn', 1001));
    await new Promise((resolve) => setImmediate(resolve));
    const startedLater = store.markRunning('next-turn', 1, 'node-b', 2001);
    await Promise.all([inserting, second]);
    expect([await started, await startedLater]).toEqual([true, true]);
    const again = await reopen();
    expect(await again.get('same-turn')).toMatchObject({ state: 'running', attempts: 1, nodeId: 'node-a', startedAt: 2000 });
    expect(await again.get('next-turn')).toMatchObject({ state: 'running', attempts: 1, nodeId: 'node-b', startedAt: 2001 });
    // Only once: the same attempt again is refused.
    expect(await store.markRunning('same-turn', 1, 'node-c', 2002)).toBe(false);
  });

  it('takes a requeue asked for while the task and its start are being stored after them', async () => {
    const { store } = await open();
    const inserting = store.insert(newTask('early'));
    const started = store.markRunning('early', 1, 'node-a', 2000);
    // The node went away as the task was sent: put back before the insert and its start were written.
    const requeued = store.requeue('early', 1);
    await inserting;
    expect([await started, await requeued]).toEqual([true, true]);
    expect(await store.get('early')).toMatchObject({ state: 'queued', attempts: 1 });
  });

  it('fails a start that waited for an insert that failed, as the insert did, changing nothing', async () => {
    const { store } = await open();
    await store.insert(newTask('taken'));
    // A duplicate id: the insert fails (a bug's way of failing, the same in both stores).
    const duplicate = store.insert(newTask('taken', 2000));
    const start = store.markRunning('taken', 1, 'node-a', 2001);
    const [inserted, started] = await Promise.allSettled([duplicate, start]);
    expect(inserted.status).toBe('rejected');
    expect(started.status).toBe('rejected');
    expect(await store.get('taken')).toMatchObject({ state: 'queued', attempts: 0, createdAt: 1000 });
  });

  it('stores many tasks submitted in one turn, each with its key and webhook', async () => {
    const { store } = await open();
    const ids = Array.from({ length: 30 }, (_, i) => `many-${i}`);
    await Promise.all(ids.map((id, i) => store.insert(newTask(id, 1000 + i, i % 3 === 0 ? { idempotency: { key: `k-${i}`, bodyHash: 'h' }, endWebhook: { id: `msg_${i}`, url: 'https://example.com/hook' } } : {}))));
    expect((await store.listUnfinished()).map((t) => t.id)).toEqual(ids);
    expect(await store.findIdempotent('key_test', 'k-3', 0)).toEqual({ taskId: 'many-3', bodyHash: 'h' });
  });

  it('refuses what an attempt no longer current sends, and starts only a higher attempt', async () => {
    const { store } = await open();
    await store.insert(newTask('t1'));
    expect(await store.markRunning('t1', 1, 'a', 1)).toBe(true);
    expect(await store.markRunning('t1', 1, 'b', 1)).toBe(false);
    expect(await store.requeue('t1', 2)).toBe(false);
    expect(await store.requeue('t1', 1)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'queued', attempts: 1 });
    expect(await store.markRunning('t1', 2, 'b', 2)).toBe(true);
    // A requeue whose write failed leaves the row running: the next attempt still starts.
    expect(await store.markRunning('t1', 3, 'c', 3)).toBe(true);
    expect(await store.complete('t1', 2, { kind: 'caption', caption: 'late' }, 4)).toBe(false);
    expect(await store.fail('t1', 2, { id: 'DAN_ERR_BACKEND_FAILED', message: 'late' }, 4)).toBe(false);
    expect(await store.complete('t1', 3, { kind: 'caption', caption: 'won' }, 5)).toBe(true);
    expect(await store.complete('t1', 3, { kind: 'caption', caption: 'twice' }, 6)).toBe(false);
    expect(await store.get('t1')).toMatchObject({ state: 'succeeded', attempts: 3, nodeId: 'c', result: { caption: 'won' } });
  });

  it('takes the result of an attempt put back in the queue and not started again since, not once another has started', async () => {
    const { store } = await open();
    for (const id of ['back', 'restarted']) {
      await store.insert(newTask(id));
      await store.markRunning(id, 1, 'a', 1);
      await store.requeue(id, 1);
    }
    expect(await store.complete('back', 1, { kind: 'caption', caption: 'done meanwhile' }, 2)).toBe(true);
    expect(await store.get('back')).toMatchObject({ state: 'succeeded', attempts: 1, result: { caption: 'done meanwhile' } });
    await store.markRunning('restarted', 2, 'b', 2);
    expect(await store.complete('restarted', 1, { kind: 'caption', caption: 'late' }, 3)).toBe(false);
    expect(await store.get('restarted')).toMatchObject({ state: 'running', attempts: 2 });
  });

  it('fails or cancels a queued or running task once, and never a finished one', async () => {
    const { store } = await open();
    for (const id of ['q', 'r', 'c']) await store.insert(newTask(id));
    await store.markRunning('r', 1, 'n', 1);
    expect(await store.fail('q', null, { id: 'DAN_ERR_TASK_UNSERVABLE', message: 'no node' }, 2)).toBe(true);
    expect(await store.cancel('r', 1, 'asked', 3)).toBe(true);
    expect(await store.cancel('r', null, 'again', 4)).toBe(false);
    expect(await store.fail('r', null, { id: 'DAN_ERR_BACKEND_FAILED', message: 'after' }, 4)).toBe(false);
    expect(await store.get('q')).toMatchObject({ state: 'failed', spec: null, error: { id: 'DAN_ERR_TASK_UNSERVABLE', message: 'no node' }, finishedAt: 2 });
    expect(await store.get('r')).toMatchObject({ state: 'cancelled', error: { id: 'DAN_ERR_TASK_CANCELLED', message: 'asked' } });
    await store.markRunning('c', 1, 'n', 1);
    await store.complete('c', 1, { kind: 'caption', caption: 'done' }, 2);
    expect(await store.cancel('c', null, 'too late', 3)).toBe(false);
  });

  it('lists unfinished tasks oldest first (in arrival order at the same time), and deletes expired finished ones with their keys', async () => {
    const { store } = await open();
    await store.insert(newTask('late', 20));
    for (const id of ['b', 'a', 'c']) await store.insert(newTask(id, 10));
    await store.insert(newTask('done', 5, { idempotency: { key: 'k1', bodyHash: 'h' } }));
    await store.markRunning('a', 1, 'n', 30);
    await store.markRunning('done', 1, 'n', 30);
    await store.complete('done', 1, { kind: 'caption', caption: 'x' }, 40);
    expect((await store.listUnfinished()).map((t) => [t.id, t.state, t.spec !== null])).toEqual([
      ['b', 'queued', true],
      ['a', 'running', true],
      ['c', 'queued', true],
      ['late', 'queued', true],
    ]);
    expect(await store.deleteFinishedBefore(40)).toBe(0);
    expect(await store.deleteFinishedBefore(41)).toBe(1);
    expect(await store.get('done')).toBeUndefined();
    // Its Idempotency-Key went with it: the key may name a new task.
    expect(await store.findIdempotent('key_test', 'k1', 0)).toBeUndefined();
    expect((await store.listUnfinished()).length).toBe(4);
  });

  it('lists the tasks it holds as running here, with their attempts', async () => {
    const { store } = await open();
    for (const id of ['q', 'r', 'done']) await store.insert(newTask(id, 10));
    await store.markRunning('r', 1, 'n', 20);
    await store.requeue('r', 1);
    await store.markRunning('r', 2, 'n', 30);
    await store.markRunning('done', 1, 'n', 30);
    await store.complete('done', 1, { kind: 'caption', caption: 'x' }, 40);
    expect(await store.listRunningHere()).toEqual([{ id: 'r', attempts: 2 }]);
  });

  it('keeps an Idempotency-Key with its task until it expires, then lets it name a new task', async () => {
    const { store } = await open();
    await store.insert(newTask('t1', 1000, { idempotency: { key: 'k', bodyHash: 'h1' }, endWebhook: { id: 'msg_1', url: 'https://example.com/hook' } }));
    expect(await store.findIdempotent('key_test', 'k', 500)).toEqual({ taskId: 't1', bodyHash: 'h1' });
    expect(await store.findIdempotent('key_other', 'k', 500)).toBeUndefined();
    // Expired: not found, and dropped so the next insert may use the key.
    expect(await store.findIdempotent('key_test', 'k', 2000)).toBeUndefined();
    await store.insert(newTask('t2', 3000, { idempotency: { key: 'k', bodyHash: 'h2' } }));
    expect(await store.findIdempotent('key_test', 'k', 2000)).toEqual({ taskId: 't2', bodyHash: 'h2' });
  });

  it('refuses a task whose Idempotency-Key another process sharing the store just gave to another task, saying so', async () => {
    const { store, reopen } = await open();
    const other = await reopen();
    await store.insert(newTask('first', 1000, { idempotency: { key: 'k', bodyHash: 'h' } }));
    await expect(other.insert(newTask('second', 1001, { idempotency: { key: 'k', bodyHash: 'h' } }))).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    expect(await other.get('second')).toBeUndefined();
    expect(await other.findIdempotent('key_test', 'k', 0)).toEqual({ taskId: 'first', bodyHash: 'h' });
  });

  it('refuses a duplicate id alone: tasks stored at the same time with it are kept', async () => {
    const { store } = await open();
    await store.insert(newTask('taken'));
    const settled = await Promise.allSettled(['a', 'b', 'taken', 'c'].map((id) => store.insert(newTask(id, 2000))));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    // A bug, not the storage failing: not dressed as DAN_ERR_STORE_UNAVAILABLE.
    expect((settled[2] as PromiseRejectedResult).reason).not.toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect(await store.get('taken')).toMatchObject({ createdAt: 1000 });
    for (const id of ['a', 'b', 'c']) expect(await store.get(id)).toMatchObject({ state: 'queued' });
  });

  it('keeps every task across a reopen (a restart)', async () => {
    const { store, reopen } = await open();
    await store.insert(newTask('q'));
    await store.insert(newTask('r'));
    await store.markRunning('r', 1, 'n', 1, 'local/gpu/0123456789abcdef');
    await store.close();
    const again = await reopen();
    expect((await again.listUnfinished()).map((t) => [t.id, t.state, t.nodeIdentity])).toEqual([
      ['q', 'queued', null],
      // Who the node of the running attempt is, for it to take the task back.
      ['r', 'running', 'local/gpu/0123456789abcdef'],
    ]);
    await again.ping();
  });
}

describe('TaskStore contract: SQLite', () => {
  contract(sqlite);
});

describe.skipIf(skipPostgres)('TaskStore contract: PostgreSQL', () => {
  contract(postgres);
});

