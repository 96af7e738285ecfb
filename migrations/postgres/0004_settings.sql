-- 0004: values every gateway sharing this database must agree on, set by the
-- first gateway that needs one (store/postgres/shared-settings.ts): the
-- generated public API key, so that a client that fetched it from one gateway
-- may call any other.
CREATE TABLE settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
