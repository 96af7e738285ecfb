/** Finished tasks and their results go once they are older than the retention time; unfinished ones stay. */
import { afterEach, describe, expect, it } from 'vitest';
import { RetentionSweeper } from '../../src/gateway/retention-sweeper.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { HOUR, MINUTE } from '../../src/util/clock.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FailingStore } from '../helpers/failing-store.js';
import { RecordingLogger, TINY_PNG } from '../helpers/fake-nodes.js';
import { txt2img } from '../helpers/specs.js';

const store = new SqliteTaskStore(':memory:');
let sweeper: RetentionSweeper | undefined;
afterEach(() => sweeper?.close());

async function finishedTask(id: string, at: number) {
  await store.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: at });
  await store.markRunning(id, 1, 'node-a', at);
  await store.complete(id, 1, { kind: 'images', images: [TINY_PNG], seeds: [1] }, at);
}

describe('RetentionSweeper', () => {
  it('deletes a finished task at the first sweep after its retention time, and keeps an unfinished one', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    await finishedTask('old', clock.now());
    await store.insert({ id: 'waiting', kind: 'txt2img', spec: txt2img(), owner: null, createdAt: clock.now() });
    sweeper = new RetentionSweeper({ store, retentionMs: 24 * HOUR, clock, log, intervalMs: MINUTE });
    await sweeper.start();
    await clock.advance(24 * HOUR);
    await finishedTask('newer', clock.now());
    // Finished exactly 24 h ago: kept until it is older than that.
    expect(await store.get('old')).toMatchObject({ state: 'succeeded' });
    await clock.advance(MINUTE);
    expect(await store.get('old')).toBeUndefined();
    expect(await store.get('newer')).toMatchObject({ state: 'succeeded' });
    expect(await store.get('waiting')).toMatchObject({ state: 'queued' });
    expect(log.lines).toContainEqual({ level: 'info', message: 'removed expired task results', fields: { removed: 1 } });
    await clock.advance(24 * HOUR - MINUTE);
    expect(await store.get('newer')).toMatchObject({ state: 'succeeded' });
    await clock.advance(MINUTE);
    expect(await store.get('newer')).toBeUndefined();
  });

  it('logs a sweep the store refused and sweeps again at the next interval', async () => {
    const clock = new FakeClock();
    const log = new RecordingLogger();
    const disk = new FailingStore(store);
    await finishedTask('expired', clock.now() - 25 * HOUR);
    disk.failing.add('deleteFinishedBefore');
    sweeper = new RetentionSweeper({ store: disk, retentionMs: 24 * HOUR, clock, log, intervalMs: MINUTE });
    await sweeper.start();
    expect(log.lines.at(-1)).toMatchObject({ level: 'error', message: 'could not remove expired task results; trying again at the next sweep' });
    disk.failing.delete('deleteFinishedBefore');
    await clock.advance(MINUTE);
    expect(await store.get('expired')).toBeUndefined();
  });
});
