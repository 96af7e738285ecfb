/**
 * A PostgreSQL server that stops answering: a statement held up (a lock taken
 * elsewhere) is cancelled by the server and answered as the store unavailable;
 * a connection cut without a word (no socket closed) is given up on, and the
 * next operation works on a new one; the listening connection notices the
 * silence and listens again; migrations are not bound by the statement timeout.
 * Real server, a schema of its own per test, a TCP proxy that can go silent.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openStores } from '../../src/store/open-stores.js';
import { channelSql } from '../../src/store/postgres/channels.js';
import { deleteInBatches } from '../../src/store/postgres/delete-in-batches.js';
import { MIGRATION_LOCK, openPostgres, type PostgresDatabase } from '../../src/store/postgres/open-postgres.js';
import { PgListener } from '../../src/store/postgres/pg-listener.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { StoreOpenError } from '../../src/store/store-open-error.js';
import { freshSchema, skipPostgres } from '../helpers/postgres.js';
import { txt2img } from '../helpers/specs.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function schemaUrl(): Promise<string> {
  const made = await freshSchema();
  cleanups.push(() => made.drop());
  return made.url;
}

async function opened(url: string, statementTimeoutMs?: number): Promise<PostgresDatabase> {
  const database = await openPostgres(url, statementTimeoutMs === undefined ? {} : { statementTimeoutMs });
  cleanups.push(() => database.pool.end());
  return database;
}

async function client(url: string): Promise<pg.Client> {
  const made = new pg.Client({ connectionString: url });
  await made.connect();
  cleanups.push(() => made.end());
  return made;
}

/** `url` reached through a proxy the test can silence. */
async function throughProxy(url: string): Promise<{ url: string; proxy: TcpProxy }> {
  const address = new URL(url);
  const proxy = await startTcpProxy({ host: address.hostname, port: Number(address.port || 5432) });
  cleanups.push(() => proxy.close());
  address.host = `${proxy.host}:${proxy.port}`;
  return { url: address.toString(), proxy };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(skipPostgres)('a PostgreSQL server that stops answering', () => {
  it('cancels a statement held up past the timeout and answers store unavailable; the next one works', async () => {
    const url = await schemaUrl();
    const store = new PostgresTaskStore(await opened(url, 300));
    const locker = await client(url);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE');
    const failed = await rejection(store.get('t1'));
    expect(failed).toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect((failed as Error).message).toMatch(/statement timeout \(57014\)/);
    // The address's own statement_timeout wins over the option.
    const byAddress = new PostgresTaskStore(await opened(`${url}&statement_timeout=300`, 60_000));
    expect(await rejection(byAddress.get('t1'))).toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE', message: expect.stringMatching(/statement timeout/) });
    await locker.query('ROLLBACK');
    expect(await store.get('t1')).toBeUndefined();
  });

  it('gives up on a connection cut without a word, and the next operation works on a new one', async () => {
    const { url, proxy } = await throughProxy(await schemaUrl());
    // The server cancels nothing here (its statements never arrive): the client gives up a grace after the timeout.
    const store = new PostgresTaskStore(await opened(url, 200));
    expect(await store.get('t1')).toBeUndefined();
    proxy.silence();
    const failed = await rejection(store.get('t1'));
    expect(failed).toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect((failed as Error).message).toMatch(/Query read timeout/);
    expect(await store.get('t1')).toBeUndefined();
  }, 20_000);

  it('listens again when its listening connection goes silent, and says so', async () => {
    const { url, proxy } = await throughProxy(await schemaUrl());
    const database = await opened(url);
    const warnings: string[] = [];
    const listener = await PgListener.open(database, (message) => warnings.push(message), { checkEveryMs: 200, answerWithinMs: 1_500 });
    cleanups.push(async () => listener.close());
    const heard: string[] = [];
    let reconnected = 0;
    await listener.listen('dan_test_channel', { onNotification: (payload) => heard.push(payload), onReconnected: () => (reconnected += 1) });
    proxy.silence();
    await expect.poll(() => reconnected, { timeout: 10_000 }).toBe(1);
    expect(warnings.join('\n')).toMatch(/was lost \(Query read timeout\); trying again every second/);
    // Listening again, on the new connection.
    const notifier = await client(url);
    await notifier.query(`SELECT pg_notify(${channelSql('dan_test_channel')}, 'after')`);
    await expect.poll(() => heard, { timeout: 5_000 }).toEqual(['after']);
  }, 20_000);

  it('stops leading when its lock connection goes silent', async () => {
    const { url, proxy } = await throughProxy(await schemaUrl());
    const leading: boolean[] = [];
    // The pool gives up on a silent connection 5 s after the address's timeout; the lock connection after 5 s.
    const stores = await openStores({ database: `${url}&statement_timeout=200`, dataDir: '' }, { listenForKeys: false, gateway: { now: () => Date.now(), heartbeatMs: 200, leaseMs: 1_000, onLeadership: (leader) => leading.push(leader) } });
    cleanups.push(() => stores.close());
    await expect.poll(() => leading, { timeout: 5_000 }).toEqual([true]);
    proxy.silence();
    await expect.poll(() => leading, { timeout: 25_000 }).toEqual([true, false]);
  }, 30_000);

  it('after the database was away, a leader waits a lease of renewals before it takes back another gateway\'s tasks', async () => {
    const direct = await schemaUrl();
    const { url, proxy } = await throughProxy(direct);
    const leading: boolean[] = [];
    // Gateway a, through the proxy, leads. Gateway b is played here: its row, its session, a task on its node.
    const a = await openStores({ database: url, dataDir: '' }, { listenForKeys: false, gateway: { now: () => Date.now(), heartbeatMs: 200, leaseMs: 2_000, onLeadership: (leader) => leading.push(leader) } });
    cleanups.push(() => a.close());
    await expect.poll(() => leading, { timeout: 5_000 }).toEqual([true]);
    const b = await client(direct);
    await b.query(`SET application_name = 'dan gateway gw_b'`);
    const renewB = () => b.query(`INSERT INTO gateways (id, started_at, seen_at) VALUES ('gw_b', 0, (extract(epoch from clock_timestamp()) * 1000)::bigint) ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at`);
    await renewB();
    let renewing = setInterval(() => void renewB(), 100);
    cleanups.push(async () => clearInterval(renewing));
    const bStore = new PostgresTaskStore(await opened(direct), { gatewayId: 'gw_b' });
    await bStore.insert({ id: 't1', kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    expect(await bStore.markRunning('t1', 1, 'node-b', 2)).toBe(true);
    const state = async () => (await bStore.get('t1'))?.state;
    // The leader has led for more than a lease, b renewing all along: nothing is taken back.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await state(), 'before the database went away').toBe('running');
    // The database goes away for a's connections for two leases (nothing closes), and b stops renewing.
    clearInterval(renewing);
    proxy.pause();
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    proxy.resume();
    // b is back within a lease of the database's return: its task was never its gateway's to lose.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await renewB();
    renewing = setInterval(() => void renewB(), 100);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(leading).toEqual([true]);
    expect(await state(), 'once the database was back').toBe('running');
    // b gone for good (no renewal, no session): its task goes back to the queue.
    clearInterval(renewing);
    await b.query(`SET application_name = 'gone'`);
    await expect.poll(state, { timeout: 8_000 }).toBe('queued');
  }, 30_000);

  it('says once that heartbeats fail while the database is away, and says when it answers again', async () => {
    const { url, proxy } = await throughProxy(await schemaUrl());
    const warnings: string[] = [];
    const notices: string[] = [];
    const stores = await openStores(
      { database: url, dataDir: '' },
      { listenForKeys: false, warn: (message) => warnings.push(message), gateway: { now: () => Date.now(), heartbeatMs: 100, leaseMs: 1_000, notice: (message) => notices.push(message) } },
    );
    cleanups.push(() => stores.close());
    await proxy.cut();
    // Ten heartbeats and more, each failing: one line.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(warnings.filter((w) => w.includes('heartbeat failed'))).toHaveLength(1);
    expect(notices).toEqual([]);
    await proxy.restore();
    await expect.poll(() => notices, { timeout: 10_000 }).toEqual([expect.stringMatching(/answers again \(heartbeats failed for \d+ s\)$/)]);
    expect(warnings.filter((w) => w.includes('heartbeat failed'))).toHaveLength(1);
  }, 20_000);

  it('refuses a statement_timeout in the address that is not a whole number of milliseconds', async () => {
    const url = await schemaUrl();
    const error = await rejection(openPostgres(`${url}&statement_timeout=1min`));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toMatch(/statement_timeout=1min in the address is not a whole number of milliseconds/);
  });

  it('deletes in batches, each committed on its own, and reads a long queue a page at a time, in order', async () => {
    const url = await schemaUrl();
    const database = await opened(url);
    const store = new PostgresTaskStore(database);
    // More than a page (1,000 rows), stored in one turn; five of them finished.
    const ids = Array.from({ length: 1_005 }, (_, i) => `t${String(i).padStart(4, '0')}`);
    await Promise.all(ids.map((id, i) => store.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1_000 + Math.floor(i / 3) })));
    const statements: string[] = [];
    database.pool.on('acquire', () => statements.push('query'));
    const unfinished = await store.listUnfinished();
    expect(unfinished.map((t) => t.id)).toEqual(ids);
    // Two pages.
    expect(statements).toHaveLength(2);
    for (const id of ids.slice(0, 5)) await store.cancel(id, null, 'test', 5_000);
    statements.length = 0;
    expect(await deleteInBatches(database.pool, 'tasks', 'finished_at IS NOT NULL AND finished_at < $1', [6_000], 2)).toBe(5);
    // Two rows per statement: 2, 2, 1.
    expect(statements).toHaveLength(3);
    expect((await store.listUnfinished()).map((t) => t.id)).toEqual(ids.slice(5));
  });

  it('migrates without the statement timeout, the address\'s too: it waits out another gateway migrating', async () => {
    const url = await schemaUrl();
    const other = await client(url);
    await other.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    let done = false;
    const opening = openPostgres(`${url}&statement_timeout=50`, { statementTimeoutMs: 50 }).then((database) => {
      done = true;
      cleanups.push(() => database.pool.end());
      return database;
    });
    // Still waiting for the lock, well past the timeout.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(done).toBe(false);
    await other.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    const database = await opening;
    expect((await database.pool.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM dan_migrations')).rows[0]!.n).toBeGreaterThan(0);
  });
});
