import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DanError } from '../../src/errors/dan-error.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { StoreOpenError } from '../../src/store/store-open-error.js';
import { readStoredResult, storedResultParts } from '../../src/store/stored-result.js';
import { Base64Image } from '../../src/util/base64-image.js';
import { WalCheckpointer } from '../../src/store/sqlite/wal-checkpointer.js';
import { tempDir } from '../helpers/processes.js';
import { txt2img } from '../helpers/specs.js';

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function newTask(id: string, createdAt = 1000) {
  return { id, kind: 'txt2img' as const, spec: txt2img(), owner: 'key_test', createdAt };
}

function storeDir() {
  const dir = tempDir();
  dirs.push(dir);
  return dir.path;
}

const bigImage = Buffer.alloc(100_000, 3).toString('base64');
/** A spec past the 32 KiB inline limit: it goes to a payload file. */
const bigSpec = { ...txt2img(), kind: 'img2img', initImage: bigImage } as unknown as ReturnType<typeof txt2img>;
const bigResult = { kind: 'images' as const, images: [bigImage], seeds: [1] };

/** What `promise` rejected with (the test fails if it resolved). */
async function rejection(promise: Promise<unknown>): Promise<DanError> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, resolved with ${JSON.stringify(outcome.resolved)}`);
  return outcome.error as DanError;
}

/** Payload writes fail for real: `payloads` becomes a regular file (ENOTDIR below it). `restore` makes it a directory again. */
function breakPayloads(dataDir: string) {
  const payloads = `${dataDir}/payloads`;
  rmSync(payloads, { recursive: true, force: true });
  writeFileSync(payloads, 'not a directory');
  return {
    restore: () => {
      rmSync(payloads);
      mkdirSync(payloads);
    },
  };
}

/**
 * Another connection holding the write lock: the store's writes wait their busy timeout
 * and fail with SQLITE_BUSY (reads go on, it is a WAL database). `release` lets them through.
 */
function lockDatabase(dataDir: string) {
  const other = new Database(`${dataDir}/tasks.sqlite`);
  other.exec('BEGIN IMMEDIATE');
  return {
    release: () => {
      other.exec('ROLLBACK');
      other.close();
    },
  };
}

describe('SqliteTaskStore', () => {
  it('keeps a task through its life and drops the inputs when it ends', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('t1'));
    expect(await store.get('t1')).toMatchObject({ state: 'queued', attempts: 0, spec: txt2img(), owner: 'key_test' });
    expect(await store.markRunning('t1', 1, 'node-a', 2000)).toBe(true);
    expect(await store.complete('t1', 1, { kind: 'caption', caption: 'a fox' }, 3000)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'succeeded', attempts: 1, nodeId: 'node-a', spec: null, result: { kind: 'caption', caption: 'a fox' }, finishedAt: 3000 });
    await store.close();
  });

  it('stores the tasks submitted in one turn in one commit, each on its own: a duplicate id fails alone', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('taken'));
    const changesBefore = (store.connection.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
    const settled = await Promise.allSettled(['a', 'b', 'taken', 'c'].map((id) => store.insert(newTask(id))));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    for (const id of ['a', 'b', 'c']) expect(await store.get(id)).toMatchObject({ state: 'queued' });
    // Three rows more, nothing of the duplicate's.
    expect((store.connection.prepare('SELECT total_changes() AS n').get() as { n: number }).n - changesBefore).toBe(3);
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

  it('starts a later attempt of a task whose requeue could not be written, and still refuses the old attempt\'s answer', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('t1'));
    expect(await store.markRunning('t1', 1, 'a', 1)).toBe(true);
    // No requeue stored: the row still says running, attempt 1.
    expect(await store.markRunning('t1', 2, 'b', 2)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'running', attempts: 2, nodeId: 'b', startedAt: 2 });
    expect(await store.complete('t1', 1, { kind: 'caption', caption: 'late' }, 3)).toBe(false);
    expect(await store.fail('t1', 1, { id: 'DAN_ERR_TASK_TIMEOUT', message: 'late' }, 3)).toBe(false);
    // Never the current attempt again, nor an older one; a higher one, even skipping numbers (a start not written).
    expect(await store.markRunning('t1', 2, 'c', 4)).toBe(false);
    expect(await store.markRunning('t1', 1, 'c', 4)).toBe(false);
    expect(await store.markRunning('t1', 4, 'd', 4)).toBe(true);
    expect(await store.complete('t1', 2, { kind: 'caption', caption: 'late' }, 5)).toBe(false);
    expect(await store.complete('t1', 4, { kind: 'caption', caption: 'winner' }, 5)).toBe(true);
    expect(await store.get('t1')).toMatchObject({ state: 'succeeded', attempts: 4, nodeId: 'd', result: { kind: 'caption', caption: 'winner' } });
    // A finished task does not start again.
    expect(await store.markRunning('t1', 3, 'c', 6)).toBe(false);
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

  it('keeps a small image result in its row as bytes, and still reads one an earlier version kept as base64 JSON', async () => {
    const store = new SqliteTaskStore(':memory:');
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    for (const id of ['new', 'old']) {
      await store.insert(newTask(id));
      await store.markRunning(id, 1, 'a', 1);
      await store.complete(id, 1, { kind: 'images', images: [new Base64Image(png)], seeds: [4] }, 2);
    }
    const row = store.connection.prepare("SELECT typeof(result) AS type, length(result) AS bytes FROM tasks WHERE id = 'new'").get() as { type: string; bytes: number };
    // The bytes and a short header, not a third more as base64 inside JSON.
    expect(row.type).toBe('blob');
    expect(row.bytes).toBeLessThan(png.length + 64);
    store.connection.prepare("UPDATE tasks SET result = ? WHERE id = 'old'").run(JSON.stringify({ kind: 'images', images: [png.toString('base64')], seeds: [4] }));
    for (const id of ['new', 'old']) {
      expect(JSON.parse(JSON.stringify((await store.get(id))?.result))).toEqual({ kind: 'images', images: [png.toString('base64')], seeds: [4] });
    }
    await store.close();
  });

  it('records the starts of one scheduling pass, and the results of one turn, in one commit each', async () => {
    const dir = storeDir();
    // No checkpoint during the test: the write-ahead log keeps every commit's pages.
    const store = new SqliteTaskStore(dir, { checkpointIntervalMs: 3_600_000 });
    const walBytes = () => statSync(`${dir}/tasks.sqlite-wal`).size;
    const together = ['a', 'b', 'c', 'd'];
    const alone = ['e', 'f', 'g', 'h'];
    for (const id of [...together, ...alone]) await store.insert(newTask(id));
    await store.markRunning('d', 1, 'n', 1);
    // Started in one synchronous loop, as a pass starts them: 'd' is refused (its attempt is not higher), alone.
    let wal = walBytes();
    expect(await Promise.all(together.map((id) => store.markRunning(id, 1, 'n', 2)))).toEqual([true, true, true, false]);
    const startsTogether = walBytes() - wal;
    wal = walBytes();
    for (const id of alone) expect(await store.markRunning(id, 1, 'n', 2)).toBe(true);
    const startsAlone = walBytes() - wal;
    // Each commit writes the pages it changed to the log: four commits write the shared page four times.
    expect(startsTogether * 2).toBeLessThan(startsAlone);
    wal = walBytes();
    expect(await Promise.all(together.map((id) => store.complete(id, 1, { kind: 'caption', caption: id }, 3)))).toEqual([true, true, true, true]);
    const resultsTogether = walBytes() - wal;
    wal = walBytes();
    for (const id of alone) expect(await store.complete(id, 1, { kind: 'caption', caption: id }, 3)).toBe(true);
    expect(resultsTogether * 2).toBeLessThan(walBytes() - wal);
    for (const id of [...together, ...alone]) expect(await store.get(id)).toMatchObject({ state: 'succeeded', result: { kind: 'caption', caption: id } });
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
    await store.markRunning('l1', 2, 'b', 2);
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
      // A checkpoint begun after the round's last commit copies all of it: the next round writes the log from its start.
      await store.walCheckpointed();
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
    let checkpointer: WalCheckpointer | undefined;
    const gone = await new Promise<Error>((resolve) => (checkpointer = new WalCheckpointer({ file: '/nonexistent/tasks.sqlite', onGone: resolve })));
    expect(gone.message).toMatch(/unable to open|does not exist|directory/i);
    // Whoever waits for a checkpoint is told, not left waiting.
    await expect(checkpointer!.nextCheckpoint()).rejects.toThrow(/WAL checkpoint failed: .*(unable to open|does not exist|directory)/i);
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
    expect(() => new SqliteTaskStore(dir.path)).toThrow(StoreOpenError);
    expect(() => new SqliteTaskStore(dir.path)).toThrow(new RegExp(`^cannot use ${dir.path} as the data directory: .*schema version 999.*upgrade DAN`));
  });
});

describe('SqliteTaskStore file permissions', () => {
  it('keeps its data for its owner only: the directory it makes 0700, the database and its WAL 0600', async () => {
    const dataDir = `${storeDir()}/data`;
    const store = new SqliteTaskStore(dataDir);
    // A task with an API key, and one large enough for a payload file.
    await store.insert(newTask('t1'));
    await store.insert({ ...newTask('t2'), spec: bigSpec });
    const mode = (path: string) => statSync(path).mode & 0o777;
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(`${dataDir}/payloads`)).toBe(0o700);
    expect(mode(`${dataDir}/tasks.sqlite`)).toBe(0o600);
    expect(mode(`${dataDir}/tasks.sqlite-wal`)).toBe(0o600);
    const payloads = readdirSync(`${dataDir}/payloads`, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
    expect(payloads.length).toBeGreaterThan(0);
    for (const entry of payloads) expect(mode(`${entry.parentPath}/${entry.name}`)).toBe(0o600);
    await store.close();
  });

  it('takes group and world access off a database an earlier version left readable to all', async () => {
    const dataDir = storeDir();
    const earlier = new SqliteTaskStore(dataDir);
    await earlier.insert(newTask('t1'));
    await earlier.close();
    chmodSync(`${dataDir}/tasks.sqlite`, 0o644);
    const store = new SqliteTaskStore(dataDir);
    expect(statSync(`${dataDir}/tasks.sqlite`).mode & 0o777).toBe(0o600);
    expect(await store.get('t1')).toMatchObject({ id: 't1' });
    await store.close();
  });
});

describe('SqliteTaskStore when storage fails', () => {
  it('refuses a task whose input file cannot be written, leaves no row, and stores it once the directory is back', async () => {
    const dataDir = storeDir();
    const store = new SqliteTaskStore(dataDir);
    const broken = breakPayloads(dataDir);
    const error = await rejection(store.insert({ ...newTask('big1'), spec: bigSpec }));
    expect(error).toBeInstanceOf(DanError);
    expect(error.id).toBe('DAN_ERR_STORE_UNAVAILABLE');
    expect(error.message).toBe(`could not store task big1: writing ${dataDir}/payloads/bi/big1.spec.json failed: ENOTDIR: not a directory`);
    expect((error.cause as Error).cause).toMatchObject({ code: 'ENOTDIR' });
    expect(await store.get('big1')).toBeUndefined();
    expect(await store.listUnfinished()).toEqual([]);
    // Tasks that fit in their row are not held up.
    await store.insert(newTask('small'));
    broken.restore();
    await store.insert({ ...newTask('big1'), spec: bigSpec });
    expect(await store.get('big1')).toMatchObject({ state: 'queued', spec: bigSpec });
    await store.close();
  });

  it('keeps a task running when its result file cannot be written, and completes it when the directory is back', async () => {
    const dataDir = storeDir();
    const store = new SqliteTaskStore(dataDir);
    await store.insert(newTask('r1'));
    await store.markRunning('r1', 1, 'a', 1);
    const broken = breakPayloads(dataDir);
    const error = await rejection(store.complete('r1', 1, bigResult, 2));
    expect(error.id).toBe('DAN_ERR_STORE_UNAVAILABLE');
    expect(error.message).toBe(`could not store the result of task r1 (attempt 1): writing ${dataDir}/payloads/r1/r1.result-1.bin failed: ENOTDIR: not a directory`);
    expect(await store.get('r1')).toMatchObject({ state: 'running', attempts: 1, nodeId: 'a', spec: txt2img(), result: null, finishedAt: null });
    broken.restore();
    expect(await store.complete('r1', 1, bigResult, 3)).toBe(true);
    expect(JSON.parse(JSON.stringify((await store.get('r1'))?.result))).toEqual(bigResult);
    await store.close();
  });

  it('says which task and file could not be read', async () => {
    const dataDir = storeDir();
    const store = new SqliteTaskStore(dataDir);
    await store.insert({ ...newTask('big1'), spec: bigSpec });
    const broken = breakPayloads(dataDir);
    const error = await rejection(store.get('big1'));
    expect(error.id).toBe('DAN_ERR_STORE_UNAVAILABLE');
    expect(error.message).toBe(`could not read task big1: reading ${dataDir}/payloads/bi/big1.spec.json failed: ENOTDIR: not a directory`);
    expect((await rejection(store.listUnfinished())).message).toMatch(/^could not read the unfinished tasks: reading .*big1\.spec\.json failed: ENOTDIR/);
    broken.restore();
    await store.close();
  });

  it('refuses writes while the database stays locked past its busy timeout, changing no row, and makes them once it is free', async () => {
    const dataDir = storeDir();
    const store = new SqliteTaskStore(dataDir, { busyTimeoutMs: 10 });
    await store.insert(newTask('t1'));
    await store.markRunning('t1', 1, 'a', 1);
    await store.insert(newTask('done'));
    await store.cancel('done', null, 'x', 1);
    const lock = lockDatabase(dataDir);
    const insert = await rejection(store.insert({ ...newTask('big1'), spec: bigSpec }));
    expect(insert.id).toBe('DAN_ERR_STORE_UNAVAILABLE');
    expect(insert.message).toBe(`could not store task big1: database ${dataDir}/tasks.sqlite: database is locked (SQLITE_BUSY)`);
    // The input file written for the row that could not be inserted is gone with it.
    expect(existsSync(`${dataDir}/payloads/bi/big1.spec.json`)).toBe(false);
    expect((await rejection(store.requeue('t1', 1))).message).toBe(`could not requeue task t1 (attempt 1): database ${dataDir}/tasks.sqlite: database is locked (SQLITE_BUSY)`);
    expect((await rejection(store.complete('t1', 1, bigResult, 2))).message).toMatch(/^could not store the result of task t1 \(attempt 1\): database .*SQLITE_BUSY/);
    expect(existsSync(`${dataDir}/payloads/t1/t1.result-1.bin`)).toBe(false);
    expect((await rejection(store.fail('t1', 1, { id: 'DAN_ERR_TASK_TIMEOUT', message: 'x' }, 2))).message).toMatch(/^could not mark task t1 failed: .*SQLITE_BUSY/);
    expect((await rejection(store.cancel('t1', null, 'x', 2))).message).toMatch(/^could not cancel task t1: .*SQLITE_BUSY/);
    expect((await rejection(store.deleteFinishedBefore(10))).message).toMatch(/^could not delete expired tasks: .*SQLITE_BUSY/);
    expect(await store.get('big1')).toBeUndefined();
    expect(await store.get('t1')).toMatchObject({ state: 'running', attempts: 1, nodeId: 'a' });
    expect((await store.get('done'))?.state).toBe('cancelled');
    lock.release();
    // The requeue that failed is not needed for the next attempt to start (markRunning from running, attempt − 1).
    expect(await store.markRunning('t1', 2, 'b', 3)).toBe(true);
    expect(await store.complete('t1', 1, bigResult, 4)).toBe(false);
    expect(await store.complete('t1', 2, bigResult, 5)).toBe(true);
    await store.insert({ ...newTask('big1'), spec: bigSpec });
    expect((await store.listUnfinished()).map((t) => t.id)).toEqual(['big1']);
    await store.close();
  });

  it('leaves a bug as it is, not dressed as a storage failure', async () => {
    const store = new SqliteTaskStore(':memory:');
    await store.insert(newTask('t1'));
    const duplicate = await rejection(store.insert(newTask('t1')));
    expect(duplicate).not.toBeInstanceOf(DanError);
    expect(duplicate).toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    const unserializable = await rejection(store.insert({ ...newTask('t2'), spec: { seed: 1n } as unknown as ReturnType<typeof txt2img> }));
    expect(unserializable).toBeInstanceOf(TypeError);
    await store.close();
  });

  it('finishes a task whose input file cannot be removed, and says the file stays behind', async () => {
    const dataDir = storeDir();
    const warnings: string[] = [];
    const store = new SqliteTaskStore(dataDir, { warn: (message) => warnings.push(message) });
    await store.insert({ ...newTask('f1'), spec: bigSpec });
    // A directory where the file was: unlink fails (EISDIR), for real.
    const spec = `${dataDir}/payloads/f1/f1.spec.json`;
    rmSync(spec);
    mkdirSync(`${spec}/inside`, { recursive: true });
    expect(await store.fail('f1', null, { id: 'DAN_ERR_TASK_TIMEOUT', message: 'slow' }, 2)).toBe(true);
    expect(await store.get('f1')).toMatchObject({ state: 'failed', spec: null });
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^task f1: a payload file no longer needed stays behind: removing ${spec} failed: E(ISDIR|PERM)`))]);
    await store.close();
  });
});

describe('opening a SqliteTaskStore where it cannot be', () => {
  const FIX = '--data <dir> must be a directory DAN can write to (it is created if missing)';

  function openError(dataDir: string): StoreOpenError {
    try {
      new SqliteTaskStore(dataDir);
    } catch (error) {
      return error as StoreOpenError;
    }
    throw new Error('the store opened');
  }

  it('names the absolute path, the cause and the fix when the data directory is a file', () => {
    const file = `${storeDir()}/data`;
    writeFileSync(file, '');
    const error = openError(relative(process.cwd(), file));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect(error.path).toBe(file);
    expect(error.message).toBe(`cannot use ${file} as the data directory: creating the directory ${file} failed: EEXIST: file already exists; ${FIX}`);
  });

  it('says so when a parent of the data directory is a file', () => {
    const file = `${storeDir()}/file`;
    writeFileSync(file, '');
    expect(openError(`${file}/data`).message).toBe(`cannot use ${file}/data as the data directory: creating the directory ${file}/data failed: ENOTDIR: not a directory; ${FIX}`);
  });

  it('says so when tasks.sqlite is a directory, or not a database', () => {
    const dir = storeDir();
    mkdirSync(`${dir}/tasks.sqlite`);
    expect(openError(dir).message).toBe(`cannot use ${dir} as the data directory: creating the database file ${dir}/tasks.sqlite failed: EISDIR: illegal operation on a directory; ${FIX}`);
    rmSync(`${dir}/tasks.sqlite`, { recursive: true });
    writeFileSync(`${dir}/tasks.sqlite`, Buffer.alloc(4096, 'x'));
    expect(openError(dir).message).toBe(`cannot use ${dir} as the data directory: database ${dir}/tasks.sqlite: file is not a database (SQLITE_NOTADB); ${FIX}`);
  });

  it('says so when the schema cannot be written', () => {
    // A directory where SQLite keeps the WAL index: the database opens, the migration cannot write.
    const dir = storeDir();
    mkdirSync(`${dir}/tasks.sqlite-shm`);
    const error = openError(dir);
    expect(error.message).toBe(`cannot use ${dir} as the data directory: database ${dir}/tasks.sqlite: attempt to write a readonly database (SQLITE_READONLY); ${FIX}`);
    expect(error.cause).toMatchObject({ code: 'SQLITE_READONLY' });
  });

  it('says so when the payload directory cannot be made', () => {
    const dir = storeDir();
    writeFileSync(`${dir}/payloads`, '');
    expect(openError(dir).message).toBe(`cannot use ${dir} as the data directory: creating the directory ${dir}/payloads failed: EEXIST: file already exists; ${FIX}`);
  });
});
