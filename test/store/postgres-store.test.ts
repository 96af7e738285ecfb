/**
 * What only the PostgreSQL stores do (the TaskStore contract both adapters
 * share is in task-store.contract.test.ts): claims from several connections,
 * migrations by gateways starting together, the database refusing or gone,
 * keys changed by another process, webhook deliveries. Real server, a schema
 * of its own per test.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiKeyRecord } from '../../src/auth/api-key.js';
import { defaultKeyLimits } from '../../src/auth/api-key.js';
import { DanError } from '../../src/errors/dan-error.js';
import { loadMigrations } from '../../src/store/migrations.js';
import { openStores, type Stores } from '../../src/store/open-stores.js';
import { openPostgres, type PostgresDatabase } from '../../src/store/postgres/open-postgres.js';
import { PgListener } from '../../src/store/postgres/pg-listener.js';
import { ProgressChannel } from '../../src/store/postgres/progress-channel.js';
import { followTasks, type NewTaskNews } from '../../src/store/postgres/task-feed.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { StoreOpenError } from '../../src/store/store-open-error.js';
import { freshSchema, skipPostgres, type TestSchema } from '../helpers/postgres.js';
import { txt2img } from '../helpers/specs.js';
import { ANY_SHARE, endedWithWebhooks } from '../helpers/deliveries.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function schema(): Promise<TestSchema> {
  const made = await freshSchema();
  cleanups.push(() => made.drop());
  return made;
}

async function stores(
  url: string,
  listenForKeys = false,
  asGateway = false,
  timing: { heartbeatMs?: number; leaseMs?: number; onLeadership?: (leader: boolean) => void } = {},
): Promise<Stores> {
  const opened = await openStores({ database: url, dataDir: '' }, { listenForKeys, ...(asGateway ? { gateway: { now: () => Date.now(), ...timing } } : {}) });
  cleanups.push(() => opened.close());
  return opened;
}

/**
 * What a gateway `gatewayId` hears of the others' tasks on the database at `url`, one line per notice
 * (`queued <id>`, `started <id> <attempt>`, …); `describeTask` adds what a new task's notice carries.
 */
async function hearTasks(url: string, gatewayId: string, describeTask: (task: NewTaskNews) => string = () => ''): Promise<string[]> {
  const heard: string[] = [];
  const database = await openPostgres(url);
  const listener = await PgListener.open(database);
  cleanups.push(async () => {
    listener.close();
    await database.pool.end();
  });
  await followTasks(listener, gatewayId, {
    queued: (id, task) => heard.push(`queued ${id}${task ? describeTask(task) : ''}`),
    started: (id, attempt) => heard.push(`started ${id} ${attempt}`),
    moved: (id, attempt) => heard.push(`moved ${id} ${attempt}`),
    ended: (id) => heard.push(`ended ${id}`),
    resync: () => heard.push('resync'),
  });
  return heard;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

const key = (id: string): ApiKeyRecord => ({
  id,
  kind: 'api',
  name: `who ${id}`,
  prefix: 'dan_abc',
  hash: `hash-${id}`,
  webhookSecret: 'whsec_x',
  limits: { ...defaultKeyLimits, maxTasks: 5 },
  createdAt: 1,
  revokedAt: null,
});

/** The names of the prepared statements run on `database`'s pool from now on ('other' for the rest). */
function recordStatements(database: PostgresDatabase): string[] {
  const statements: string[] = [];
  const query = database.pool.query.bind(database.pool);
  database.pool.query = ((config: unknown, values?: unknown) => {
    statements.push(typeof config === 'object' && config !== null && 'name' in config ? String(config.name) : 'other');
    return query(config as string, values as unknown[]);
  }) as typeof database.pool.query;
  return statements;
}

describe.skipIf(skipPostgres)('PostgreSQL stores', () => {
  it('lets exactly one of several gateways start each attempt, however their claims interleave', async () => {
    const { url } = await schema();
    const gateways = await Promise.all([1, 2, 3, 4].map(() => stores(url)));
    const ids = Array.from({ length: 40 }, (_, i) => `t${i}`);
    for (const id of ids) await gateways[0]!.tasks.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    const claims = await Promise.all(gateways.flatMap((g, n) => ids.map(async (id) => ((await g.tasks.markRunning(id, 1, `node-${n}`, 2)) ? id : null))));
    const won = claims.filter((id) => id !== null);
    expect(won.sort()).toEqual([...ids].sort());
    // The winner is the one the row names.
    const rows = await Promise.all(ids.map((id) => gateways[1]!.tasks.get(id)));
    expect(rows.every((row) => row?.state === 'running' && row.attempts === 1)).toBe(true);
  });

  it('starts the tasks of one pass, and stores the results of one turn, in one statement each', async () => {
    const { url } = await schema();
    const database = await openPostgres(url);
    const store = new PostgresTaskStore(database, { gatewayId: 'gw_test' });
    cleanups.push(() => store.close());
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids) await store.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    const statements = recordStatements(database);
    // 'd' twice in one pass: the second start (same attempt) is refused alone.
    expect(await Promise.all([...ids.map((id) => store.markRunning(id, 1, 'n', 2)), store.markRunning('d', 1, 'm', 2)])).toEqual([true, true, true, true, false]);
    expect(statements).toEqual(['dan_mark_running_many']);
    statements.length = 0;
    const done = await Promise.all(ids.map((id, i) => store.complete(id, i === 3 ? 2 : 1, { kind: 'caption', caption: id }, 3)));
    expect(done).toEqual([true, true, true, false]);
    expect(statements).toEqual(['dan_complete_many']);
    expect(await store.get('c')).toMatchObject({ state: 'succeeded', result: { caption: 'c' } });
    expect(await store.get('d')).toMatchObject({ state: 'running', attempts: 1 });
  });

  it('lists as running here only the attempts this gateway started', async () => {
    const { url } = await schema();
    const database = await openPostgres(url);
    cleanups.push(() => database.pool.end());
    const [mine, theirs] = [new PostgresTaskStore(database, { gatewayId: 'gw_mine' }), new PostgresTaskStore(database, { gatewayId: 'gw_theirs' })];
    for (const id of ['a', 'b']) await mine.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    expect(await mine.markRunning('a', 1, 'n', 2)).toBe(true);
    expect(await theirs.markRunning('b', 1, 'm', 2)).toBe(true);
    expect(await mine.listRunningHere()).toEqual([{ id: 'a', attempts: 1 }]);
    expect(await theirs.listRunningHere()).toEqual([{ id: 'b', attempts: 1 }]);
  });

  it('moves an attempt to another gateway only for the node it was given to, and the gateway it left can no longer put it back', async () => {
    const { url } = await schema();
    const database = await openPostgres(url);
    cleanups.push(() => database.pool.end());
    const [dead, survivor] = [new PostgresTaskStore(database, { gatewayId: 'gw_dead' }), new PostgresTaskStore(database, { gatewayId: 'gw_alive' })];
    const heard = await hearTasks(url, 'gw_third');
    for (const id of ['a', 'b', 'c']) await dead.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    const gpu = 'shared/gpu/0123456789abcdef';
    // The start inserted with the task keeps who the node is too.
    const inserted = dead.insert({ id: 'd', kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    const startedWithInsert = dead.markRunning('d', 1, 'gpu-000001', 2, gpu);
    await inserted;
    expect(await startedWithInsert).toBe(true);
    for (const id of ['a', 'b', 'c']) expect(await dead.markRunning(id, 1, 'gpu-000001', 2, gpu)).toBe(true);
    // Another node naming it (another key, or another name), or another attempt: refused.
    expect(await survivor.takeOver('a', 1, 'shared/gpu/fedcba9876543210', 'gpu-000002')).toBe(false);
    expect(await survivor.takeOver('a', 2, gpu, 'gpu-000002')).toBe(false);
    expect(await survivor.takeOver('a', 1, gpu, 'gpu-000002')).toBe(true);
    expect(await survivor.takeOver('d', 1, gpu, 'gpu-000002')).toBe(true);
    expect(await survivor.get('a')).toMatchObject({ state: 'running', attempts: 1, nodeId: 'gpu-000002', runningOn: 'gw_alive' });
    // The gateway it left (its grace for the node ending) does not put it back, fail it, or start it again
    // (not having heard of the take-over); the one it runs on may.
    expect(await dead.requeue('a', 1)).toBe(false);
    expect(await dead.fail('a', 1, { id: 'DAN_ERR_NODE_LOST', message: 'gone' }, 5)).toBe(false);
    expect(await dead.markRunning('a', 2, 'gpu2-000009', 5, 'shared/gpu2/00')).toBe(false);
    expect(await survivor.listRunningHere()).toEqual(expect.arrayContaining([{ id: 'a', attempts: 1 }, { id: 'd', attempts: 1 }]));
    expect(await survivor.requeue('a', 1)).toBe(true);
    // Put back in the queue (its gateway counted gone) at that attempt: still the node's to take over.
    expect(await dead.requeue('b', 1)).toBe(true);
    expect(await survivor.takeOver('b', 1, gpu, 'gpu-000002')).toBe(true);
    expect(await survivor.get('b')).toMatchObject({ state: 'running', attempts: 1, runningOn: 'gw_alive' });
    // Started again since: not any more.
    expect(await dead.requeue('c', 1)).toBe(true);
    expect(await survivor.markRunning('c', 2, 'gpu2-000003', 3, 'shared/gpu2/00')).toBe(true);
    expect(await survivor.takeOver('c', 1, gpu, 'gpu-000002')).toBe(false);
    // Ended: not either.
    expect(await survivor.complete('d', 1, { kind: 'caption', caption: 'd' }, 4)).toBe(true);
    expect(await survivor.takeOver('d', 1, gpu, 'gpu-000003')).toBe(false);
    await expect.poll(() => heard.filter((h) => h.startsWith('moved')), { timeout: 5_000 }).toEqual(['moved a 1', 'moved d 1', 'moved b 1']);
  });

  it('stores the tasks of one turn in one statement, with the starts the pass of that turn made', async () => {
    const { url } = await schema();
    const database = await openPostgres(url);
    const store = new PostgresTaskStore(database, { gatewayId: 'gw_test' });
    cleanups.push(() => store.close());
    const other = await stores(url);
    const heard = await hearTasks(url, 'gw_other', () => ' with task');
    const statements = recordStatements(database);
    const ids = ['a', 'b', 'c'];
    const inserted = ids.map((id) => store.insert({ id, kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 }));
    const started = store.markRunning('b', 1, 'n', 2);
    await Promise.all(inserted);
    expect(await started).toBe(true);
    expect(statements).toEqual(['dan_insert_many']);
    expect(await store.get('b')).toMatchObject({ state: 'running', attempts: 1, nodeId: 'n', runningOn: 'gw_test' });
    expect(await store.get('a')).toMatchObject({ state: 'queued', attempts: 0, runningOn: null });
    // The other gateways hear of 'b' as stored, then started: they never run it.
    await expect.poll(() => [...heard].sort(), { timeout: 10_000 }).toEqual(['queued a with task', 'queued b with task', 'queued c with task', 'started b 1']);
    expect(heard.indexOf('started b 1')).toBeGreaterThan(heard.indexOf('queued b with task'));
    expect(await other.tasks.markRunning('b', 1, 'theirs', 3)).toBe(false);
  });

  it('relays a task\'s progress from the gateway running it to one that asked, at most twice a second, the last step always', async () => {
    const { url } = await schema();
    const opened = await Promise.all([url, url].map(async () => {
      const database = await openPostgres(url);
      const listener = await PgListener.open(database);
      cleanups.push(async () => {
        listener.close();
        await database.pool.end();
      });
      return { database, listener };
    }));
    let clock = 1_000;
    const heard: string[] = [];
    const [asking, running] = await Promise.all(
      opened.map(({ database, listener }, n) =>
        ProgressChannel.open(database, listener, {
          gatewayId: `gw_${n}`,
          progressHere: (id) => (n === 1 && id === 'task-1' ? { attempt: 1, progress: 0.1, etaSeconds: 9 } : undefined),
          heard: (id, attempt, progress, eta) => heard.push(`${id} #${attempt} ${progress} eta ${eta}`),
          now: () => clock,
        }),
      ),
    );
    // Not asked for yet: not told.
    running!.progressed('task-1', 1, 0.1, 9);
    asking!.want('task-1');
    asking!.want('task-2');
    // Once the want has arrived: told at once where the task stands, not at its node's next report.
    await expect.poll(() => heard, { timeout: 5_000 }).toEqual(['task-1 #1 0.1 eta 9']);
    // Then at most once per half second, but the last step always (a newer one may replace an older one
    // still waiting to be sent: never the other way round).
    running!.progressed('task-1', 1, 0.2, 8);
    clock += 600;
    running!.progressed('task-1', 1, 0.3, 7);
    running!.progressed('task-1', 1, 1, 0);
    await expect.poll(() => heard.at(-1), { timeout: 5_000 }).toBe('task-1 #1 1 eta 0');
    expect(heard.filter((h) => !h.includes(' 0.3 '))).toEqual(['task-1 #1 0.1 eta 9', 'task-1 #1 1 eta 0']);
    // Asked again (another gateway, or a later attempt): told again at once.
    asking!.want('task-1');
    await expect.poll(() => heard.length, { timeout: 5_000 }).toBe(heard.filter((h) => h.includes(' 0.3 ')).length + 3);
    expect(heard.at(-1)).toBe('task-1 #1 0.1 eta 9');
  });

  it('tells the other gateways what happens to tasks, in commit order, a small new task with its notice', async () => {
    const { url } = await schema();
    const writer = await stores(url, false, true);
    const reader = await stores(url, false, true);
    const heard = await hearTasks(url, reader.gateways!.id, (task) => ` ${task.kind} ${task.owner} w${task.weight} ${task.spec.kind}`);
    await writer.tasks.insert({ id: 't1', kind: 'txt2img', spec: txt2img(), owner: 'key_a', createdAt: 1, weight: 3 });
    await writer.tasks.markRunning('t1', 1, 'n', 2);
    await writer.tasks.requeue('t1', 1);
    await writer.tasks.markRunning('t1', 2, 'n', 3);
    await writer.tasks.complete('t1', 2, { kind: 'caption', caption: 'x' }, 4);
    // The reader's own changes are not news to it.
    await reader.tasks.insert({ id: 'own', kind: 'txt2img', spec: txt2img(), owner: 'key_a', createdAt: 5 });
    await expect.poll(() => heard.length, { timeout: 5_000 }).toBe(5);
    expect(heard).toEqual(['queued t1 txt2img key_a w3 txt2img', 'started t1 1', 'queued t1', 'started t1 2', 'ended t1']);
  });

  it('migrates once when several gateways start on an empty database together', async () => {
    const { url } = await schema();
    const opened = await Promise.all([1, 2, 3].map(() => stores(url)));
    expect(opened.every((s) => s.name.startsWith('PostgreSQL postgres://'))).toBe(true);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const versions = (await client.query<{ version: number }>('SELECT version FROM dan_migrations ORDER BY version')).rows.map((r) => r.version);
    await client.end();
    // Every migration, each once.
    expect(versions).toEqual(loadMigrations('postgres').map((m) => m.version));
  });

  it('refuses a database from a newer DAN, naming it without its password', async () => {
    const { url } = await schema();
    await stores(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`INSERT INTO dan_migrations (version, name, applied_at) VALUES (99, 'future', 0)`);
    await client.end();
    const withPassword = new URL(url);
    withPassword.password = 'hunter2';
    const error = await rejection(openStores({ database: withPassword.toString(), dataDir: '' }));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toMatch(/schema version 99, but this DAN knows versions up to \d+; upgrade DAN, or point --database at another database/);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('says the schema its search_path names must be made first', async () => {
    const address = new URL((await schema()).url);
    address.searchParams.set('options', '-c search_path=dan_no_such_schema');
    const error = await rejection(openPostgres(address.toString()));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toMatch(/\(3F000\); --database must name .* \(the schema its search_path names must exist first: CREATE SCHEMA <name>\)$/);
  });

  it('says which database cannot be reached at start, and answers 503 (store unavailable) when it goes away', async () => {
    const error = await rejection(openStores({ database: 'postgres://dan:secret@127.0.0.1:1/dan', dataDir: '' }));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toMatch(/cannot use postgres:\/\/dan:\*\*\*@127\.0\.0\.1:1\/dan as the database: .*ECONNREFUSED/);
    // A store whose server is gone (here: never there) rejects each operation as unavailable, naming it.
    const pool = new pg.Pool({ connectionString: 'postgres://dan@127.0.0.1:1/dan', connectionTimeoutMillis: 1_000 });
    const store = new PostgresTaskStore({ pool, name: 'postgres://dan@127.0.0.1:1/dan', url: 'postgres://dan@127.0.0.1:1/dan' });
    const failed = await rejection(store.insert({ id: 't1', kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 }));
    expect(failed).toBeInstanceOf(DanError);
    expect(failed).toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect((failed as Error).message).toMatch(/^could not store task t1: database postgres:\/\/dan@127\.0\.0\.1:1\/dan: .*ECONNREFUSED/);
    await store.close();
  });

  it('tells every gateway when another process changes a key', async () => {
    const { url } = await schema();
    const gateway = await stores(url, true);
    const cli = await stores(url);
    const before = gateway.keys.changeMark();
    expect(gateway.keys.changeMark()).toBe(before);
    await cli.keys.add(key('key_a'));
    await expect.poll(() => gateway.keys.changeMark(), { timeout: 5_000 }).not.toBe(before);
    expect(await gateway.keys.get('key_a')).toMatchObject({ name: 'who key_a', limits: { maxTasks: 5 } });
    expect(await cli.keys.update('key_a', { name: 'renamed' })).toMatchObject({ name: 'renamed', limits: { maxTasks: 5 } });
    expect(await cli.keys.revoke('key_a', 50)).toMatchObject({ revokedAt: 50 });
    // Revoked once, at its first time.
    expect(await cli.keys.revoke('key_a', 60)).toMatchObject({ revokedAt: 50 });
    expect(await cli.keys.update('key_none', { name: 'x' })).toBeUndefined();
    expect((await gateway.keys.list()).map((k) => k.id)).toEqual(['key_a']);
  });

  it('keeps webhook deliveries through a task\'s end, its tries and a restart', async () => {
    const { url } = await schema();
    const { tasks, deliveries } = await stores(url);
    await tasks.insert({ id: 't1', kind: 'txt2img', spec: txt2img(), owner: 'key_a', createdAt: 1, endWebhook: { id: 'msg_1', url: 'https://example.com/1' } });
    await tasks.insert({ id: 't2', kind: 'txt2img', spec: txt2img(), owner: 'key_a', createdAt: 2, endWebhook: { id: 'msg_2', url: 'https://example.com/2' } });
    expect(await deliveries.due(100, 10, ANY_SHARE)).toEqual([]);
    // t2 ended while no gateway ran: resumed as due; t1 still waits for its end.
    await tasks.cancel('t2', null, 'asked', 5);
    expect(await deliveries.resume(10)).toEqual(['t1']);
    // Handed to one gateway: another looking at the same moment finds it taken, and sends it not.
    const other = await stores(url);
    const [mine, theirs] = await Promise.all([deliveries.due(10, 10, ANY_SHARE), other.deliveries.due(10, 10, ANY_SHARE)]);
    expect([...mine, ...theirs].map((d) => d.id)).toEqual(['msg_2']);
    await tasks.markRunning('t1', 1, 'n', 11);
    await tasks.complete('t1', 1, { kind: 'caption', caption: 'x' }, 12);
    await deliveries.taskEnded('t1', 12);
    expect(await deliveries.nextDueAt(ANY_SHARE)).toBe(12);
    await deliveries.recordTry('msg_2', { ok: false, status: 500, error: 'HTTP 500', nextAt: 70, at: 13 });
    await deliveries.recordTry('msg_1', { ok: true, status: 204, error: null, nextAt: null, at: 14 });
    expect(await deliveries.listFor('key_a', 10)).toMatchObject([
      { id: 'msg_2', state: 'pending', attempts: 1, nextAt: 70, lastStatus: 500 },
      { id: 'msg_1', state: 'delivered', attempts: 1, finishedAt: 14 },
    ]);
    expect(await deliveries.deleteFinishedBefore(15)).toBe(1);
  });

  it('hands out due deliveries shared among owners: a few of each, none of an owner left out, none on their way', async () => {
    const { url } = await schema();
    const { tasks, deliveries } = await stores(url);
    await endedWithWebhooks(tasks, deliveries, { slow: 6, other: 1 });
    const due = await deliveries.due(100, 10, { perOwner: 2, skipOwners: [], skipIds: [] });
    expect(due.map((d) => d.owner).sort()).toEqual(['key_other', 'key_slow', 'key_slow']);
    // Claimed: not handed out again; the slow owner left out, what is left of it is not counted as due.
    const more = await deliveries.due(100, 10, { perOwner: 2, skipOwners: ['key_slow'], skipIds: [] });
    expect(more).toEqual([]);
    expect(await deliveries.nextDueAt({ skipOwners: ['key_slow'], skipIds: [] })).toBe(100 + 60_000);
    expect(await deliveries.nextDueAt({ skipOwners: [], skipIds: [] })).toBe(50);
  });
});

describe.skipIf(skipPostgres)('PostgreSQL migrations and the gateways sharing a database', () => {
  it('migrates a database of the previous version, keeping its tasks', async () => {
    const { url } = await schema();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    // Version 1 as an earlier DAN left it, with a task running.
    const [first] = loadMigrations('postgres');
    await client.query('CREATE TABLE dan_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    await client.query(first!.sql);
    await client.query(`INSERT INTO dan_migrations VALUES (1, 'init', 0)`);
    await client.query(`INSERT INTO tasks (id, kind, state, owner, attempts, node_id, created_at, started_at) VALUES ('old', 'txt2img', 'running', 'key_a', 1, 'n', 5, 6)`);
    await client.query(`INSERT INTO task_payloads (task_id, name, format, data) VALUES ('old', 'spec', 'json', $1)`, [Buffer.from(JSON.stringify(txt2img()))]);
    const { tasks, gateways } = await stores(url, false, true);
    expect(await tasks.listUnfinished()).toMatchObject([{ id: 'old', state: 'running', attempts: 1, spec: txt2img() }]);
    // Version 2 records which gateway starts each attempt.
    await tasks.requeue('old', 1);
    expect(await tasks.markRunning('old', 2, 'n2', 7)).toBe(true);
    const row = await client.query<{ gateway_id: string }>(`SELECT gateway_id FROM tasks WHERE id = 'old'`);
    expect(row.rows[0]?.gateway_id).toBe(gateways!.id);
    expect((await client.query('SELECT version FROM dan_migrations ORDER BY version')).rows.map((r: { version: number }) => r.version)).toEqual(loadMigrations('postgres').map((m) => m.version));
    await client.end();
  });

  it('agrees on a setting across the gateways: the first proposal wins, whoever asks after', async () => {
    const { url } = await schema();
    const [one, two] = await Promise.all([url, url].map(() => stores(url)));
    const answers = await Promise.all([one!.agreeOn!('public_api_key', 'sk-first'), two!.agreeOn!('public_api_key', 'sk-second')]);
    expect(new Set(answers).size).toBe(1);
    expect(await two!.agreeOn!('public_api_key', 'sk-third')).toBe(answers[0]);
    expect(await one!.agreeOn!('other', 'x')).toBe('x');
  });

  it('ends the leading session of a leader that stopped renewing (its process hung), and another leads', async () => {
    const { url } = await schema();
    const warnings: string[] = [];
    // Heartbeats only when the test beats: the first to beat leads, then hangs (beats no more, its lock session open).
    const joined: Stores[] = [];
    for (let i = 0; i < 2; i++) joined.push(await openStores({ database: url, dataDir: '' }, { listenForKeys: false, gateway: { now: () => Date.now(), heartbeatMs: 3_600_000, leaseMs: 500 }, warn: (m: string) => warnings.push(m) }));
    cleanups.push(async () => {
      for (const opened of joined) await opened.close();
    });
    const [hung, live] = joined.map((s) => s.gateways!) as [NonNullable<Stores['gateways']>, NonNullable<Stores['gateways']>];
    await hung.beat();
    await live.beat();
    expect([hung.isLeader, live.isLeader]).toEqual([true, false]);
    // The live one renews every 100 ms; once the leader's row is a lease old, its session is ended and the lock taken.
    await expect
      .poll(
        async () => {
          await live.beat();
          return live.isLeader;
        },
        { timeout: 5_000, interval: 100 },
      )
      .toBe(true);
    await expect.poll(() => hung.isLeader, { timeout: 5_000 }).toBe(false);
    expect(warnings.some((w) => w.includes(`gateway ${hung.id} leads but has not renewed`))).toBe(true);
  });

  it('has one leader among the gateways at a time, and another leads within a heartbeat when it goes', async () => {
    const { url } = await schema();
    // Each gateway's changes of leadership, in order.
    const changes: boolean[][] = [[], [], []];
    const joined = await Promise.all(changes.map((seen) => stores(url, false, true, { heartbeatMs: 200, leaseMs: 1_000, onLeadership: (leader) => seen.push(leader) })));
    const registries = joined.map((s) => s.gateways!);
    await Promise.all(registries.map((r) => r.beat()));
    expect(registries.filter((r) => r.isLeader)).toHaveLength(1);
    const leader = registries.find((r) => r.isLeader)!;
    // Every gateway sees all three, and the same one leading.
    for (const r of registries) {
      expect(r.peers.map((p) => p.id).sort()).toEqual(registries.map((g) => g.id).sort());
      expect(r.peers.filter((p) => p.leader).map((p) => p.id)).toEqual([leader.id]);
    }
    // The leader's lock connection dies: it stops leading at once, and one gateway (maybe itself again,
    // with a new connection) leads within a heartbeat or two. Never two.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`dan gateway ${leader.id} leading`]);
    await admin.end();
    const leaderChanges = changes[registries.indexOf(leader)]!;
    await expect.poll(() => leaderChanges.includes(false), { timeout: 5_000 }).toBe(true);
    await expect.poll(() => registries.filter((r) => r.isLeader).length, { timeout: 8_000 }).toBe(1);
    // The leader leaves (its process ends): another leads, and the one gone is not seen once its row is gone.
    const current = registries.find((r) => r.isLeader)!;
    await current.leave();
    const others = registries.filter((r) => r !== current);
    await expect.poll(() => others.filter((r) => r.isLeader).length, { timeout: 8_000 }).toBe(1);
    await others[0]!.beat();
    expect(others[0]!.peers.map((p) => p.id)).not.toContain(current.id);
    expect(registries.filter((r) => r.isLeader)).toHaveLength(1);
  });
});
