import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { readStoredResult, storedResultParts } from '../../src/store/sqlite/stored-result.js';
import { Base64Image } from '../../src/util/base64-image.js';
import { WalCheckpointer } from '../../src/store/sqlite/wal-checkpointer.js';
import { tempDir } from '../helpers/processes.js';
import { txt2img } from '../helpers/specs.js';

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function newTask(id: string, createdAt = 1000) {
  return { id, kind: 'txt2img' as const, spec: txt2img(), apiKey: 'sk-test', createdAt };
}

describe('SqliteTaskStore', () => {
  it('keeps a task through its life and drops the inputs when it ends', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('t1'));
    expect(await store.get('t1')).toMatchObject({ state: 'queued', attempts: 0, spec: txt2img(), apiKey: 'sk-test' });
    expect(await store.markRunning('t1', 1, 'node-a', 2000)).toBe(true);
    expect(await store.complete('t1', 1, { kind: 'caption', caption: 'a fox' }, 3000)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'succeeded', attempts: 1, nodeId: 'node-a', spec: null, result: { kind: 'caption', caption: 'a fox' }, finishedAt: 3000 });
    await store.close();
  });

  it('ignores an answer from an attempt that is no longer current', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('t1'));
    await store.markRunning('t1', 1, 'a', 1);
    expect(await store.requeue('t1', 1)).toBe(true);
    expect(await store.markRunning('t1', 2, 'b', 2)).toBe(true);
    expect(await store.complete('t1', 1, { kind: 'caption', caption: 'late' }, 3)).toBe(false);
    expect(await store.markRunning('t1', 2, 'c', 4)).toBe(false);
    expect(await store.fail('t1', 2, { id: 'DAN_ERR_TASK_TIMEOUT', message: 'slow' }, 5)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'failed', error: { id: 'DAN_ERR_TASK_TIMEOUT', message: 'slow' } });
    await store.close();
  });

  it('lists unfinished tasks oldest first and deletes expired finished ones', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('late', 3000));
    await store.insert(newTask('early', 1000));
    await store.insert(newTask('done', 2000));
    await store.fail('done', null, { id: 'DAN_ERR_TASK_FAILED', message: 'x' }, 5000);
    expect((await store.listUnfinished()).map((t) => t.id)).toEqual(['early', 'late']);
    expect(await store.deleteFinishedBefore(5000)).toBe(0);
    expect(await store.deleteFinishedBefore(5001)).toBe(1);
    expect(await store.get('done')).toBeUndefined();
    await store.close();
  });

  it('keeps tasks in its file across reopening', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = new SqliteTaskStore(dir.path);
    await first.insert(newTask('t1'));
    await first.close();
    const second = new SqliteTaskStore(dir.path);
    expect((await second.get('t1'))?.state).toBe('queued');
    await second.close();
  });

  it('keeps the winning attempt\'s result when an abandoned attempt answers late', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('t1'));
    await store.markRunning('t1', 1, 'a', 1);
    await store.requeue('t1', 1);
    await store.markRunning('t1', 2, 'b', 2);
    expect(await store.complete('t1', 2, { kind: 'caption', caption: 'winner' }, 3)).toBe(true);
    expect(await store.complete('t1', 1, { kind: 'caption', caption: 'late' }, 4)).toBe(false);
    expect((await store.get('t1'))?.result).toEqual({ kind: 'caption', caption: 'winner' });
    await store.close();
  });

  it('keeps small payloads in the row, writes large ones as files and removes them with the expired task', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = new SqliteTaskStore(dir.path);
    await store.insert(newTask('small'));
    expect(existsSync(`${dir.path}/payloads/sm/small.spec.json`)).toBe(false);
    expect((await store.get('small'))?.spec).toEqual(txt2img());
    const image = Buffer.alloc(100_000, 3).toString('base64');
    const big = { ...txt2img(), kind: 'img2img', initImage: image } as unknown as ReturnType<typeof txt2img>;
    await store.insert({ ...newTask('t1'), spec: big });
    expect(existsSync(`${dir.path}/payloads/t1/t1.spec.json`)).toBe(true);
    expect((await store.get('t1'))?.spec).toEqual(big);
    await store.markRunning('t1', 1, 'a', 1);
    // Images as bytes (the node's own, as the gateway holds them), stored as bytes: a quarter smaller than base64.
    const bytes = Buffer.alloc(100_000, 5);
    await store.complete('t1', 1, { kind: 'images', images: [new Base64Image(bytes), image], seeds: [1, 2] }, 10);
    expect(existsSync(`${dir.path}/payloads/t1/t1.spec.json`)).toBe(false);
    expect(statSync(`${dir.path}/payloads/t1/t1.result-1.bin`).size).toBeLessThan(2 * 100_000 + 100);
    // Read back as bytes too, base64 only when serialized (no 130 KiB string per read).
    const stored = (await store.get('t1'))?.result;
    expect(stored?.kind === 'images' && stored.images.every((i) => i instanceof Base64Image)).toBe(true);
    expect(JSON.parse(JSON.stringify(stored))).toEqual({ kind: 'images', images: [bytes.toString('base64'), image], seeds: [1, 2] });
    // A large result that is not images (a long caption) goes to a JSON file.
    const caption = 'a fox '.repeat(10_000);
    await store.insert(newTask('c1'));
    await store.markRunning('c1', 1, 'a', 1);
    await store.complete('c1', 1, { kind: 'caption', caption }, 10);
    expect(existsSync(`${dir.path}/payloads/c1/c1.result-1.json`)).toBe(true);
    expect((await store.get('c1'))?.result).toEqual({ kind: 'caption', caption });
    expect(await store.deleteFinishedBefore(11)).toBe(2);
    expect(existsSync(`${dir.path}/payloads/t1/t1.result-1.bin`)).toBe(false);
    expect(existsSync(`${dir.path}/payloads/c1/c1.result-1.json`)).toBe(false);
    await store.close();
  });

  it('reads back an image result file as written, and refuses a damaged one', () => {
    const parts = storedResultParts({ kind: 'images', images: [new Base64Image(Buffer.from('first')), Buffer.from('second').toString('base64')], seeds: [7, 8] });
    const file = Buffer.concat(parts);
    const read = readStoredResult(file);
    expect(read.images.map((i) => (i instanceof Base64Image ? i.bytes.toString() : i))).toEqual(['first', 'second']);
    expect(JSON.parse(JSON.stringify(read))).toEqual({ kind: 'images', images: [Buffer.from('first').toString('base64'), Buffer.from('second').toString('base64')], seeds: [7, 8] });
    expect(() => readStoredResult(file.subarray(0, file.length - 1))).toThrow(/image bytes/);
    expect(() => readStoredResult(Buffer.from('{"kind":"images"}'))).toThrow(/not a stored result/);
  });

  it('removes a spec file when its task fails or is cancelled, and keeps a late attempt\'s result file out', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = new SqliteTaskStore(dir.path);
    const image = Buffer.alloc(100_000, 3).toString('base64');
    const big = { ...txt2img(), kind: 'img2img', initImage: image } as unknown as ReturnType<typeof txt2img>;
    for (const id of ['f1', 'c1', 'l1']) await store.insert({ ...newTask(id), spec: big });
    await store.fail('f1', null, { id: 'DAN_ERR_TASK_TIMEOUT', message: 'slow' }, 2);
    await store.cancel('c1', null, 'no longer wanted', 2);
    expect(existsSync(`${dir.path}/payloads/f1/f1.spec.json`)).toBe(false);
    expect(existsSync(`${dir.path}/payloads/c1/c1.spec.json`)).toBe(false);
    await store.markRunning('l1', 1, 'a', 1);
    await store.requeue('l1', 1);
    expect(await store.complete('l1', 1, { kind: 'images', images: [image], seeds: [1] }, 3)).toBe(false);
    expect(existsSync(`${dir.path}/payloads/l1/l1.result-1.bin`)).toBe(false);
    expect(existsSync(`${dir.path}/payloads/l1/l1.spec.json`)).toBe(true);
    await store.close();
  });

  it('checkpoints the write-ahead log off the event loop, so the log is reused instead of growing', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = new SqliteTaskStore(dir.path, { checkpointIntervalMs: 20 });
    const walBytes = () => statSync(`${dir.path}/tasks.sqlite-wal`).size;
    // Results just under the inline limit: each round writes a few MiB to the log.
    const result = { kind: 'images' as const, images: [Buffer.alloc(20_000, 7).toString('base64')], seeds: [1] };
    const round = async (r: number) => {
      for (let i = 0; i < 100; i++) {
        const id = `r${r}-${i}`;
        await store.insert(newTask(id));
        await store.markRunning(id, 1, 'a', 1);
        await store.complete(id, 1, result, 2);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    };
    await round(1);
    const afterFirst = walBytes();
    expect(afterFirst).toBeGreaterThan(1_000_000);
    await round(2);
    await round(3);
    // Without checkpoints the log would hold all three rounds.
    expect(walBytes()).toBeLessThan(afterFirst * 1.5);
    expect((await store.get('r1-0'))?.state).toBe('succeeded');
    await store.close();
  });

  it('closes in a process with nothing else left to do: the checkpoint worker is waited for, not dropped', () => {
    const dir = tempDir();
    dirs.push(dir);
    const built = new URL('../../dist/store/sqlite/sqlite-task-store.js', import.meta.url).href;
    const script = `const { SqliteTaskStore } = await import(${JSON.stringify(built)});
      const store = new SqliteTaskStore(${JSON.stringify(dir.path)});
      await store.close();
      console.log('closed');`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    // Exit code 13 is node's "unsettled top-level await": the close never finished.
    expect({ status: run.status, stdout: run.stdout.trim() }).toEqual({ status: 0, stdout: 'closed' });
  });

  it('reports a checkpointer that cannot open its database', async () => {
    const gone = await new Promise<Error>((resolve) => new WalCheckpointer({ file: '/nonexistent/tasks.sqlite', onGone: resolve }));
    expect(gone.message).toMatch(/unable to open|does not exist|directory/i);
  });

  it('cancels a queued or running task once, and not a finished one', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('q'));
    expect(await store.cancel('q', null, 'cancelled by the client', 5)).toBe(true);
    expect(await store.get('q')).toMatchObject({ state: 'cancelled', spec: null, error: { id: 'DAN_ERR_TASK_CANCELLED', message: 'cancelled by the client' } });
    await store.insert(newTask('r'));
    await store.markRunning('r', 1, 'a', 1);
    expect(await store.cancel('r', 1, 'x', 2)).toBe(true);
    expect(await store.cancel('r', 1, 'x', 3)).toBe(false);
    expect(await store.complete('r', 1, { kind: 'caption', caption: 'late' }, 4)).toBe(false);
    await store.close();
  });

  it('refuses a database from a newer DAN', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await new SqliteTaskStore(dir.path).close();
    const db = new Database(`${dir.path}/tasks.sqlite`);
    db.prepare('INSERT INTO dan_migrations (version, name, applied_at) VALUES (999, ?, 0)').run('future');
    db.close();
    expect(() => new SqliteTaskStore(dir.path)).toThrow(/schema version 999.*upgrade DAN/);
  });
});
