/**
 * The outbox writes to the store at a task's end only for a task with an end
 * delivery: one it was told of at submit, or one found waiting when it
 * started (after a restart). Every other task's end costs nothing. And one
 * API key's receivers that never answer hold up no other key's webhooks.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** A receiver on 127.0.0.1: `answer` false holds every request open (until the sender gives up). */
async function receiver(answer: boolean): Promise<{ server: Server; url: string; received: number; ended: number }> {
  const state = { received: 0, ended: 0 };
  const server = createServer((request, response) => {
    state.received += 1;
    request.socket.on('close', () => (state.ended += 1));
    request.resume();
    if (answer) response.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return Object.assign(state, { server, url });
}

/**
 * An outbox that really sends (every task's end event, signed), over a SQLite store and a fake clock, with
 * `alter` to make its store misbehave; `ended` ends a task of `owner` whose webhook goes to `url`.
 */
async function sendingWorld(alter: (store: SqliteDeliveryStore) => void = () => {}, timeoutMs?: number) {
  const tasks = new SqliteTaskStore(':memory:');
  const clock = new FakeClock();
  const store = new SqliteDeliveryStore(tasks.connection);
  alter(store);
  const outbox = new WebhookOutbox({
    store,
    clock,
    log: new RecordingLogger(),
    endEventOf: async () => ({ type: 'task.failed', data: {} }),
    secretOf: () => `whsec_${Buffer.from('a test secret').toString('base64')}`,
    allowPrivate: true,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    serialize: (event) => Buffer.from(JSON.stringify(event)),
  });
  await outbox.start();
  const servers: Server[] = [];
  return {
    clock,
    outbox,
    async receiver(answer: boolean) {
      const made = await receiver(answer);
      servers.push(made.server);
      return made;
    },
    async ended(id: string, owner: string, url: string) {
      outbox.expectEnd(id);
      await tasks.insert({ id, kind: 'txt2img', spec: txt2img(), owner, createdAt: 1, endWebhook: { id: `msg_${id}`, url } });
      await tasks.fail(id, null, { id: 'DAN_ERR_BACKEND_FAILED', message: 'x' }, 2);
      await outbox.taskEnded(id);
    },
    async close() {
      await outbox.close();
      await tasks.close();
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WebhookOutbox: sharing among API keys', () => {
  it('sends another key\'s webhook while one key\'s receivers hold every try open, and holds only a few of that key\'s open at once', async () => {
    const w = await sendingWorld(undefined, 5_000);
    const [stalled, prompt] = await Promise.all([w.receiver(false), w.receiver(true)]);
    // Forty tasks of the stalled key end first, then one of another key.
    for (let i = 0; i < 40; i++) await w.ended(`slow-${i}`, 'key_slow', stalled.url);
    await w.ended('other', 'key_other', prompt.url);
    await expect.poll(() => prompt.received, { timeout: 4_000 }).toBe(1);
    // Delivered while every try of the stalled key is still open: it waited for none of them.
    expect(stalled.ended).toBe(0);
    expect(stalled.received).toBeGreaterThan(0);
    expect(stalled.received).toBeLessThanOrEqual(8);
    await w.close();
  }, 15_000);
});

describe('WebhookOutbox: a store that does not take a try\'s outcome', () => {
  it('rests before sending again (the delivery is still due), longer each time, instead of resending at once', async () => {
    const w = await sendingWorld((store) => {
      store.recordTry = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    });
    const hook = await w.receiver(true);
    await w.ended('t1', 'key_a', hook.url);
    await expect.poll(() => hook.received).toBe(1);
    // Real time passes, the clock of the rest does not: no second try.
    await pause(300);
    expect(hook.received).toBe(1);
    await w.clock.advance(1_000);
    await expect.poll(() => hook.received).toBe(2);
    // The second rest is longer: a second on is not enough.
    await w.clock.advance(1_000);
    await pause(200);
    expect(hook.received).toBe(2);
    await w.clock.advance(1_000);
    await expect.poll(() => hook.received).toBe(3);
    await w.close();
  });
});

describe('WebhookOutbox: a store that does not say what is due', () => {
  it('tries again after a rest, with nothing else to wake it', async () => {
    let refusals = 1;
    const w = await sendingWorld((store) => {
      const due = store.due.bind(store);
      store.due = (...args) => (refusals-- > 0 ? Promise.reject(new Error('SQLITE_BUSY: database is locked')) : due(...args));
    });
    const hook = await w.receiver(true);
    await w.ended('t1', 'key_a', hook.url);
    await pause(200);
    expect(hook.received).toBe(0);
    await w.clock.advance(1_000);
    await expect.poll(() => hook.received).toBe(1);
    await w.close();
  });
});
