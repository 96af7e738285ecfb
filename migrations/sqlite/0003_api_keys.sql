-- 0003: API keys, known by the SHA-256 of their secret, never the secret itself.
-- A task now names its owner (a key id `key_…`, or `anon:<address>` for a caller
-- without a key) instead of holding the key it was sent with: the plain keys
-- earlier versions kept in `api_key` are dropped.
CREATE TABLE api_keys (
  id             TEXT PRIMARY KEY,   -- public id, key_…
  name           TEXT NOT NULL,
  prefix         TEXT NOT NULL,      -- the secret's first characters, to recognise it by
  hash           TEXT NOT NULL UNIQUE,
  webhook_secret TEXT NOT NULL,      -- whsec_…, signs the key's webhooks
  limits         TEXT NOT NULL,      -- KeyLimits JSON (auth/api-key.ts)
  created_at     INTEGER NOT NULL,   -- epoch ms
  revoked_at     INTEGER
);

ALTER TABLE tasks ADD COLUMN owner TEXT;
ALTER TABLE tasks DROP COLUMN api_key;
