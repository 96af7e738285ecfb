-- 0002: tasks may end 'cancelled'. SQLite cannot alter a CHECK constraint, so
-- the table is rebuilt with the wider one and the rows copied over.
CREATE TABLE tasks_new (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK (kind IN ('txt2img', 'img2img', 'interrogate', 'upscale')),
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  api_key       TEXT,
  spec          TEXT,
  result        TEXT,
  attempts      INTEGER NOT NULL DEFAULT 0,
  node_id       TEXT,
  created_at    INTEGER NOT NULL,
  started_at    INTEGER,
  finished_at   INTEGER,
  error_id      TEXT,
  error_message TEXT
);
INSERT INTO tasks_new SELECT id, kind, state, api_key, spec, result, attempts, node_id, created_at, started_at, finished_at, error_id, error_message FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX tasks_unfinished ON tasks (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;
