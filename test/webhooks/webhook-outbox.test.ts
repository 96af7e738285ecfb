/**
 * The outbox writes to the store at a task's end only for a task with an end
 * delivery: one it was told of at submit, or one found waiting when it
 * started (after a restart). Every other task's end costs nothing.
 */
import { describe, expect, it } from 'vitest';
import type { DeliveryStore } from '../../src/webhooks/delivery-store.js';
import { WebhookOutbox } from '../../src/webhooks/webhook-outbox.js';
import { SqliteDeliveryStore } from '../../src/store/sqlite/sqlite-delivery-store.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { RecordingLogger } from '../helpers/fake-nodes.js';
import { txt2img } from '../helpers/specs.js';

/** A SQLite delivery store that counts the end writes. */
class CountingStore extends SqliteDeliveryStore {
  readonly endWrites: string[] = [];

  override taskEnded(taskId: string, now: number): Promise<void> {
    this.endWrites.push(taskId);
    return super.taskEnded(taskId, now);
  }
}

function outboxOver(store: DeliveryStore, clock: FakeClock) {
  // No secret: a due delivery fails at once, which shows it was made due, without sending anything.
  return new WebhookOutbox({ store, clock, log: new RecordingLogger(), endEventOf: async () => null, secretOf: () => null, allowPrivate: true, serialize: () => Buffer.from('{}') });
}

describe('WebhookOutbox.taskEnded', () => {
  it('writes nothing for a task without an end delivery, and makes due the delivery of one it was told of', async () => {
    const tasks = new SqliteTaskStore(':memory:');
    const clock = new FakeClock();
    const store = new CountingStore(tasks.connection);
    const outbox = outboxOver(store, clock);
    await outbox.start();
    outbox.expectEnd('hooked');
    await tasks.insert({ id: 'hooked', kind: 'txt2img', spec: txt2img(), owner: 'key_a', createdAt: 1, endWebhook: { id: 'msg_hooked', url: 'https://hooks.example/' } });
    await outbox.taskEnded('plain');
    await outbox.taskEnded('hooked');
    expect(store.endWrites).toEqual(['hooked']);
    await outbox.close();
    await tasks.close();
  });

  it('after a restart, watches the tasks whose deliveries were found waiting', async () => {
    const tasks = new SqliteTaskStore(':memory:');
    const clock = new FakeClock();
    await tasks.insert({ id: 'running', kind: 'txt2img', spec: txt2img(), owner: 'key_a', createdAt: 1, endWebhook: { id: 'msg_running', url: 'https://hooks.example/' } });
    const store = new CountingStore(tasks.connection);
    // A new outbox, as a restarted gateway makes: nobody told it of 'running' at submit.
    const outbox = outboxOver(store, clock);
    await outbox.start();
    await outbox.taskEnded('running');
    expect(store.endWrites).toEqual(['running']);
    await outbox.close();
    await tasks.close();
  });
});
