-- 0001: the whole schema of SQLite's migrations 0001–0006, for PostgreSQL.
-- Times are epoch milliseconds (BIGINT), as in the SQLite store.
--
-- tasks: one row per accepted request, kept small (no inputs or results in
-- it): the hot table every claim, start and end touches. Inputs (a spec with
-- its images) and results (images as bytes) live in task_payloads, so that
-- large blobs neither bloat nor slow it; both go with their task.
CREATE TABLE tasks (
  id            TEXT PRIMARY KEY,
  seq           BIGINT GENERATED ALWAYS AS IDENTITY,  -- arrival order among equal created_at
  kind          TEXT NOT NULL CHECK (kind IN ('txt2img', 'img2img', 'interrogate', 'upscale')),
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  owner         TEXT,              -- a key id (key_…), or anon:<address>
  attempts      INTEGER NOT NULL DEFAULT 0,
  node_id       TEXT,              -- node of the current (or last) attempt
  created_at    BIGINT NOT NULL,
  started_at    BIGINT,
  finished_at   BIGINT,
  error_id      TEXT,              -- catalog id on failure
  error_message TEXT
);
CREATE INDEX tasks_unfinished ON tasks (created_at, seq) WHERE state IN ('queued', 'running');
CREATE INDEX tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;

-- A task's input ('spec': GenerationSpec JSON, dropped when the task ends) and
-- result ('result': the winning attempt's; format 'json' for a caption,
-- 'images' for images as bytes, store/sqlite/stored-result.ts).
CREATE TABLE task_payloads (
  task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  name    TEXT NOT NULL CHECK (name IN ('spec', 'result')),
  format  TEXT NOT NULL CHECK (format IN ('json', 'images')),
  data    BYTEA NOT NULL,
  PRIMARY KEY (task_id, name)
);

-- API keys and node tokens (kind), known by the SHA-256 of their secret, never the secret itself.
CREATE TABLE api_keys (
  id             TEXT PRIMARY KEY,   -- public id, key_…
  seq            BIGINT GENERATED ALWAYS AS IDENTITY,
  kind           TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'node')),
  name           TEXT NOT NULL,
  prefix         TEXT NOT NULL,
  hash           TEXT NOT NULL UNIQUE,
  webhook_secret TEXT NOT NULL,
  limits         TEXT NOT NULL,      -- KeyLimits JSON (auth/api-key.ts)
  created_at     BIGINT NOT NULL,
  revoked_at     BIGINT
);
-- Every gateway reads the keys again when another process changes them (store/postgres/postgres-key-store.ts).
CREATE FUNCTION dan_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('dan_keys_changed', '');
  RETURN NULL;
END $$;
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
  FOR EACH STATEMENT EXECUTE FUNCTION dan_keys_changed();

-- Idempotency-Key on submits: a key names one task per owner; removed with the task.
CREATE TABLE idempotency_keys (
  owner      TEXT NOT NULL,
  key        TEXT NOT NULL,
  body_hash  TEXT NOT NULL,
  task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_keys_task ON idempotency_keys (task_id);

-- Webhook deliveries (webhooks/delivery-store.ts); the owner's delivery log.
CREATE TABLE webhook_deliveries (
  id           TEXT PRIMARY KEY,   -- msg_…
  seq          BIGINT GENERATED ALWAYS AS IDENTITY,
  owner        TEXT NOT NULL,
  task_id      TEXT NOT NULL,
  url          TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('waiting', 'pending', 'delivered', 'failed')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  next_at      BIGINT,
  last_status  INTEGER,
  last_error   TEXT,
  created_at   BIGINT NOT NULL,
  finished_at  BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_task ON webhook_deliveries (task_id);
CREATE INDEX webhook_deliveries_owner ON webhook_deliveries (owner, created_at);
