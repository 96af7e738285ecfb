-- 0003: the nodes connected to each gateway sharing this database, as the
-- others need them: what each can run (a submit to any gateway is checked
-- against the whole network's nodes) and whether its WebUI is up. A row lives
-- while its node is connected; a gateway gone takes its nodes with it.
CREATE TABLE nodes (
  id           TEXT PRIMARY KEY,   -- the node's session id on its gateway
  gateway_id   TEXT NOT NULL,
  name         TEXT NOT NULL,
  capabilities TEXT NOT NULL,      -- NodeCapabilities JSON (protocol/messages.ts)
  backend_up   BOOLEAN NOT NULL,
  updated_at   BIGINT NOT NULL
);
CREATE INDEX nodes_gateway ON nodes (gateway_id);
