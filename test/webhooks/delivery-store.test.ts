/**
 * The delivery store after a restart: a webhook that waited on a task that
 * ended while the gateway was down becomes due; one whose task is gone fails
 * (nothing would ever make it due).
 */
import { describe, expect, it } from 'vitest';
import { SqliteDeliveryStore } from '../../src/store/sqlite/sqlite-delivery-store.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { txt2img } from '../helpers/specs.js';
import { ANY_SHARE, endedWithWebhooks } from '../helpers/deliveries.js';

describe('SqliteDeliveryStore.resume', () => {
  it('makes due the waiting deliveries of tasks that ended, fails those of tasks gone, leaves the rest waiting', async () => {
    const tasks = new SqliteTaskStore(':memory:');
    const deliveries = new SqliteDeliveryStore(tasks.connection);
    // Each task stored with its end webhook, as a submit stores them.
    for (const id of ['ended', 'running', 'gone']) {
      await tasks.insert({ id, kind: 'txt2img', spec: txt2img(), owner: 'key_a', createdAt: 1, endWebhook: { id: `msg_${id}`, url: 'https://hooks.example/' } });
    }
    for (const [id, at] of [['gone', 3], ['ended', 10]] as const) {
      await tasks.markRunning(id, 1, 'node', 2);
      await tasks.fail(id, 1, { id: 'DAN_ERR_BACKEND_FAILED', message: 'x' }, at);
    }
    // 'gone' ended and outlived its retention before its delivery was made due (a crash in between).
    expect(await tasks.deleteFinishedBefore(4)).toBe(1);
    // The tasks whose deliveries still wait for their end: the outbox watches for them.
    expect(await deliveries.resume(100)).toEqual(['running']);
    const byTask = new Map((await deliveries.listFor('key_a', 10)).map((d) => [d.taskId, d]));
    expect(byTask.get('ended')).toMatchObject({ state: 'pending', nextAt: 100 });
    expect(byTask.get('running')).toMatchObject({ state: 'waiting', nextAt: null });
    expect(byTask.get('gone')).toMatchObject({ state: 'failed', finishedAt: 100, lastError: 'the task was gone from the store' });
    expect((await deliveries.due(100, 10, ANY_SHARE)).map((d) => d.taskId)).toEqual(['ended']);
    await tasks.close();
  });
});

describe('SqliteDeliveryStore.due', () => {
  it('hands out due deliveries shared among owners: a few of each, none of an owner left out, none on their way', async () => {
    const tasks = new SqliteTaskStore(':memory:');
    const deliveries = new SqliteDeliveryStore(tasks.connection);
    await endedWithWebhooks(tasks, deliveries, { slow: 6, other: 1 });
    const due = await deliveries.due(100, 10, { perOwner: 2, skipOwners: [], skipIds: [] });
    expect(due.map((d) => d.owner).sort()).toEqual(['key_other', 'key_slow', 'key_slow']);
    // Those on their way are not handed out again (this store claims nothing); an owner left out, none of its.
    const sending = due.map((d) => d.id);
    expect((await deliveries.due(100, 10, { perOwner: 2, skipOwners: [], skipIds: sending })).map((d) => d.owner)).toEqual(['key_slow', 'key_slow']);
    expect(await deliveries.due(100, 10, { perOwner: 2, skipOwners: ['key_slow'], skipIds: sending })).toEqual([]);
    expect(await deliveries.nextDueAt({ skipOwners: ['key_slow'], skipIds: sending })).toBeNull();
    expect(await deliveries.nextDueAt({ skipOwners: [], skipIds: sending })).toBe(50);
    await tasks.close();
  });
});
