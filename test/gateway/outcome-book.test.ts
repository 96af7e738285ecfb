/**
 * A finished task's outcome written to the store: a write refused because a try given up on had landed
 * after all is no loss, and is not logged as one; a write refused because the task moved on says where to.
 */
import { describe, expect, it } from 'vitest';
import { DanError } from '../../src/errors/dan-error.js';
import { OutcomeBook } from '../../src/gateway/outcome-book.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import type { Logger } from '../../src/util/logger.js';
import { systemClock } from '../../src/util/clock.js';
import { txt2img } from '../helpers/specs.js';

function recordingLog(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (_fields: object, message = '') => lines.push({ level, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function runningTask(store: SqliteTaskStore, id: string): Promise<void> {
  await store.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
  await store.markRunning(id, 1, 'node-a', 2);
}

/** The store's first `complete` lands, but its answer is a timeout; how many tries were made. */
function landsButTimesOutOnce(store: SqliteTaskStore): { count: number } {
  const complete = store.complete.bind(store);
  const tries = { count: 0 };
  store.complete = async (...args) => {
    tries.count += 1;
    const stored = await complete(...args);
    if (tries.count === 1) throw new DanError('DAN_ERR_STORE_UNAVAILABLE', 'could not store the result: Query read timeout');
    return stored;
  };
  return tries;
}

describe('OutcomeBook', () => {
  it('takes a refusal for a write that landed on an earlier try as stored, not as a lost result', async () => {
    const store = new SqliteTaskStore(':memory:');
    await runningTask(store, 't1');
    // The first try lands, but its answer does not come back (a timeout): the book tries again and is refused.
    const tries = landsButTimesOutOnce(store);
    const log = recordingLog();
    const book = new OutcomeBook({ store, log, clock: systemClock });
    expect(await book.announce({ id: 't1', state: 'succeeded', result: { kind: 'caption', caption: 'a cat' } }, 1)).toBe(true);
    expect(tries.count).toBe(2);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(log.lines.map((l) => l.message)).toContain('task outcome stored (an earlier try landed)');
    await store.close();
  });

  it('tries again when the store cannot say why it refused: an outcome it holds is answered as held', async () => {
    const store = new SqliteTaskStore(':memory:');
    await runningTask(store, 't1');
    // The first try lands but times out; the second is refused, and the store times out once more when asked why.
    landsButTimesOutOnce(store);
    const get = store.get.bind(store);
    let gets = 0;
    store.get = async (...args) => {
      gets += 1;
      if (gets === 1) throw new DanError('DAN_ERR_STORE_UNAVAILABLE', 'could not read the task: Query read timeout');
      return get(...args);
    };
    const book = new OutcomeBook({ store, log: recordingLog(), clock: systemClock });
    // Held: the gateway counts it, and makes its end webhook due.
    expect(await book.announce({ id: 't1', state: 'succeeded', result: { kind: 'caption', caption: 'a cat' } }, 1)).toBe(true);
    expect(gets).toBe(2);
    await store.close();
  });

  it('says where the task went when another attempt started meanwhile', async () => {
    const store = new SqliteTaskStore(':memory:');
    await runningTask(store, 't1');
    await store.requeue('t1', 1);
    await store.markRunning('t1', 2, 'node-b', 3);
    const log = recordingLog();
    // Not stored: the gateway does not count it as a task it finished.
    expect(await new OutcomeBook({ store, log, clock: systemClock }).announce({ id: 't1', state: 'succeeded', result: { kind: 'caption', caption: 'late' } }, 1)).toBe(false);
    expect(log.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
      'task outcome not stored: the task moved on (now running, attempt 2); its later outcome is the one kept',
    ]);
    await store.close();
  });
});
