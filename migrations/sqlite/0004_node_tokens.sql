-- 0004: node tokens live beside API keys, told apart by `kind`: an API key
-- ('api') calls the API, a node token ('node') admits GPU nodes. Neither does
-- the other's work.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'node'));
