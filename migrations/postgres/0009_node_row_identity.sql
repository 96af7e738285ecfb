-- 0009: who the node of each row is (network/node-hub.ts identityOf), beside id, which
-- names only one connection of it. When a gateway dies, its nodes connect to another
-- at once, while the dead gateway's rows stay until the leader counts it gone: the
-- dashboards list each node once, by its newest connection. NULL in rows a gateway
-- older than this migration published.
ALTER TABLE nodes ADD COLUMN identity TEXT;
