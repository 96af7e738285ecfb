-- 0001: tasks. One row per accepted request. Inputs and results are JSON,
-- kept in the row when small and in payload files beside the database when
-- large (store/sqlite/payload-files.ts); inputs are dropped when the task ends,
-- results when the retention time has passed.
CREATE TABLE tasks (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK (kind IN ('txt2img', 'img2img', 'interrogate', 'upscale')),
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
  api_key       TEXT,
  spec          TEXT,              -- GenerationSpec JSON while unfinished, when small (else in a payload file)
  result        TEXT,              -- TaskResult JSON on success, when small (else in a payload file)
  attempts      INTEGER NOT NULL DEFAULT 0,
  node_id       TEXT,              -- node of the current (or last) attempt
  created_at    INTEGER NOT NULL,  -- epoch ms
  started_at    INTEGER,
  finished_at   INTEGER,
  error_id      TEXT,              -- catalog id on failure
  error_message TEXT
);

CREATE INDEX tasks_unfinished ON tasks (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;
