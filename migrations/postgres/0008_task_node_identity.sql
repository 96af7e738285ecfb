-- 0008: who the node of a task's current attempt is (its token, name and key, as the
-- gateway that started the attempt knew it: network/node-hub.ts identityOf), beside
-- node_id, which names only one connection of it. When a gateway dies, its nodes run
-- on and connect to another gateway of the database, which takes over each attempt
-- only for the node it was given to (TaskStore.takeOver).
ALTER TABLE tasks ADD COLUMN node_identity TEXT;
