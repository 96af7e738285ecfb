-- 0006: key changes are told on the channel of this schema (store/postgres/channels.ts):
-- a notice reaches the whole database, and two networks kept in two schemas of one
-- database heard each other's. Every gateway sharing a database must run a DAN that
-- has this migration: an older one listens on the old channel names.
CREATE OR REPLACE FUNCTION dan_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('dan_keys_changed_' || substr(md5(current_schema()), 1, 12), '');
  RETURN NULL;
END $$;
