-- 0005: Idempotency-Key on submits. A key names one task per owner: the same key
-- and body again return that task. Removed with the task, and not honoured after 24 h.
CREATE TABLE idempotency_keys (
  owner      TEXT NOT NULL,   -- the task's owner (a key id, or anon:<address>)
  key        TEXT NOT NULL,   -- the client's Idempotency-Key
  body_hash  TEXT NOT NULL,   -- SHA-256 of the endpoint and the request body, to refuse a reused key
  task_id    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_keys_task ON idempotency_keys (task_id);
