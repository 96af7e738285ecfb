-- 0004: what gateways sharing this database show of each other.
--
-- settings: values every gateway must agree on, set by the first gateway that
-- needs one (store/postgres/shared-settings.ts): the generated public API key,
-- so that a client that fetched it from one gateway may call any other.
CREATE TABLE settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- nodes.listing: what the dashboard shows of the node (its state, speed, what
-- it runs), as its gateway last published it (every few seconds, not told:
-- read when a dashboard asks). NULL until the first publication.
ALTER TABLE nodes ADD COLUMN listing TEXT;
