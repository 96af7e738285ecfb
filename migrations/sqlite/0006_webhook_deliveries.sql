-- 0006: webhook deliveries. A submit with a webhook records its delivery at once
-- ('waiting'); when the task ends it becomes 'pending' and is sent, signed with
-- the owner's webhook secret, and tried again with backoff for a day until the
-- receiver answers 2xx ('delivered') or the tries run out ('failed'). The body is
-- made at each try from the stored task. Rows are the owner's delivery log.
CREATE TABLE webhook_deliveries (
  id           TEXT PRIMARY KEY,   -- msg_…, the webhook-id header (the same on every try)
  owner        TEXT NOT NULL,      -- the key the task and the webhook belong to
  task_id      TEXT NOT NULL,
  url          TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('waiting', 'pending', 'delivered', 'failed')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  next_at      INTEGER,            -- epoch ms of the next try while pending
  last_status  INTEGER,            -- HTTP status of the last try, null if it got none
  last_error   TEXT,
  created_at   INTEGER NOT NULL,
  finished_at  INTEGER             -- delivered or given up
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_task ON webhook_deliveries (task_id);
CREATE INDEX webhook_deliveries_owner ON webhook_deliveries (owner, created_at);
