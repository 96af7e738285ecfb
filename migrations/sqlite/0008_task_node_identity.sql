-- 0008: who the node of a task's current attempt is (its token, name and key:
-- network/node-hub.ts identityOf), beside node_id, which names only one connection
-- of it. A gateway restarted gives a task that was running back only to that node
-- when it connects again with it (dispatcher takeBack), not to any node of its name.
ALTER TABLE tasks ADD COLUMN node_identity TEXT;
