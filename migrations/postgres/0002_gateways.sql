-- 0002: the gateways that share this database. Each adds its row at start
-- (a new id every start) and renews `seen_at` every few seconds; a gateway not
-- seen for its lease time is gone, and the attempts it ran may be run again
-- elsewhere. A task names the gateway whose node runs its current attempt.
CREATE TABLE gateways (
  id         TEXT PRIMARY KEY,   -- gw_…
  started_at BIGINT NOT NULL,    -- epoch ms
  seen_at    BIGINT NOT NULL
);
ALTER TABLE tasks ADD COLUMN gateway_id TEXT;
