/**
 * The SQLite key store: keys kept by hash with their limits, changed and
 * revoked; another process's changes seen through the change mark; a
 * database of an earlier version migrated with the plain keys it held dropped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultKeyLimits, hashApiKey, newApiKey } from '../../src/auth/api-key.js';
import { KeyRing } from '../../src/auth/key-ring.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { SqliteKeyStore } from '../../src/store/sqlite/sqlite-key-store.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { txt2img } from '../helpers/specs.js';
import { tempDir } from '../helpers/processes.js';

const dirs: { path: string; remove(): void }[] = [];
const opened: Database.Database[] = [];

afterEach(() => {
  opened.splice(0).forEach((db) => db.open && db.close());
  dirs.splice(0).forEach((d) => d.remove());
});

function storeIn(dir: string): SqliteKeyStore {
  const { db } = openDatabase(dir, 5_000);
  opened.push(db);
  return new SqliteKeyStore(db);
}

function dataDir(): string {
  const dir = tempDir('dan-keys-');
  dirs.push(dir);
  return dir.path;
}

describe('SqliteKeyStore', () => {
  it('keeps a key by its hash, never its secret, and reads back its limits', async () => {
    const dir = dataDir();
    const store = storeIn(dir);
    const { record, secret } = newApiKey('alice', { ...defaultKeyLimits, maxSteps: 30, models: ['clarity'] }, 1000);
    await store.add(record);
    expect(await store.get(record.id)).toEqual(record);
    expect(record.hash).toBe(hashApiKey(secret));
    const raw = new Database(`${dir}/tasks.sqlite`, { readonly: true });
    opened.push(raw);
    expect(JSON.stringify(raw.prepare('SELECT * FROM api_keys').all())).not.toContain(secret);
  });

  it('changes name and limits, and revokes once (a second revoke keeps the first time)', async () => {
    const store = storeIn(dataDir());
    const { record } = newApiKey('bob', defaultKeyLimits, 1000);
    await store.add(record);
    expect(await store.update(record.id, { name: 'robert', limits: { ...record.limits, weight: 3 } })).toMatchObject({ name: 'robert', limits: { weight: 3 } });
    expect((await store.revoke(record.id, 2000))?.revokedAt).toBe(2000);
    expect((await store.revoke(record.id, 3000))?.revokedAt).toBe(2000);
    expect(await store.update('key_missing', { name: 'x' })).toBeUndefined();
    expect(await store.revoke('key_missing', 1)).toBeUndefined();
  });

  it('moves its change mark when another connection writes keys, not when it writes itself', async () => {
    const dir = dataDir();
    const gateway = storeIn(dir);
    const cli = storeIn(dir);
    const mark = gateway.changeMark();
    await gateway.add(newApiKey('own', defaultKeyLimits, 1).record);
    expect(gateway.changeMark()).toBe(mark);
    await cli.add(newApiKey('other', defaultKeyLimits, 1).record);
    expect(gateway.changeMark()).not.toBe(mark);
  });

  it('lets the gateway\'s key ring see a key another process revoked at its next look at the store', async () => {
    const dir = dataDir();
    const gateway = storeIn(dir);
    const ring = new KeyRing(gateway, { checkEveryMs: 0 });
    const { record, secret } = newApiKey('carol', defaultKeyLimits, 1);
    await gateway.add(record);
    await ring.load();
    expect((await ring.find(secret))?.revokedAt).toBeNull();
    await storeIn(dir).revoke(record.id, 5);
    expect((await ring.find(secret))?.revokedAt).toBe(5);
    expect(await ring.find(`${secret}x`)).toBeUndefined();
  });

  it('answers a key it knows from memory while the store cannot be read, and cannot tell an unknown one', async () => {
    const dir = dataDir();
    const store = storeIn(dir);
    const ring = new KeyRing(store, { checkEveryMs: 0 });
    const { record, secret } = newApiKey('erin', defaultKeyLimits, 1);
    await store.add(record);
    await ring.load();
    // Another process changed the keys, and reading them now fails (the database gone for a while).
    await storeIn(dir).add(newApiKey('other', defaultKeyLimits, 1).record);
    const gone = new Error('database unreachable');
    store.list = () => Promise.reject(gone);
    expect(await ring.find(secret)).toMatchObject({ id: record.id });
    await expect(ring.find(`${secret}x`)).rejects.toBe(gone);
  });

  it('looks at the store at most every checkEveryMs: lookups in between answer from memory', async () => {
    const dir = dataDir();
    const ring = new KeyRing(storeIn(dir), { checkEveryMs: 60_000 });
    const { record, secret } = newApiKey('dan', defaultKeyLimits, 1);
    await storeIn(dir).add(record);
    expect(await ring.find(secret)).toMatchObject({ id: record.id });
    await storeIn(dir).revoke(record.id, 7);
    expect((await ring.find(secret))?.revokedAt).toBeNull();
  });
});

describe('migration 0003', () => {
  it('drops the plain API keys an earlier version kept with its tasks; the tasks stay', async () => {
    const dir = dataDir();
    // A database as 0.1.0 left it: schema version 2, a task holding its key in plain text.
    const db = new Database(`${dir}/tasks.sqlite`);
    db.exec('CREATE TABLE dan_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const { loadMigrations } = await import('../../src/store/migrations.js');
    for (const m of loadMigrations('sqlite').filter((m) => m.version <= 2)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO dan_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    }
    db.prepare(`INSERT INTO tasks (id, kind, state, api_key, spec, created_at) VALUES ('old', 'txt2img', 'queued', 'sk-plaintext-secret', ?, 1)`).run(JSON.stringify(txt2img()));
    db.close();

    const store = new SqliteTaskStore(dir);
    expect(await store.get('old')).toMatchObject({ id: 'old', state: 'queued', owner: null, spec: txt2img() });
    const columns = (store.connection.prepare('PRAGMA table_info(tasks)').all() as { name: string }[]).map((c) => c.name);
    expect(columns).toContain('owner');
    expect(columns).not.toContain('api_key');
    await store.close();
    // Not left behind in freed pages either.
    for (const file of readdirSync(dir).filter((name) => name.startsWith('tasks.sqlite'))) {
      expect(readFileSync(`${dir}/${file}`).includes('sk-plaintext-secret'), file).toBe(false);
    }
  });
});
