-- 0005: the checkpoint each caller (an API key id, or anon:<address>) chose with
-- the WebUI-compatible API's POST /sdapi/v1/options, for every gateway sharing
-- the database (store/caller-defaults.ts).
CREATE TABLE caller_defaults (
  owner       TEXT PRIMARY KEY,
  checkpoint  TEXT NOT NULL,     -- a catalog name
  updated_at  BIGINT NOT NULL
);
