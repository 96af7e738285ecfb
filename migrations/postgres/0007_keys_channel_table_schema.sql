-- 0007: the keys trigger names its channel for the schema of the table that changed
-- (TG_TABLE_SCHEMA), not the changing session's: a session whose search_path starts
-- elsewhere that writes api_keys by its qualified name told the wrong schema. It also
-- tells the channel of DANs before 0006 (dan_keys_changed), so that a gateway not yet
-- upgraded hears of a revoked key at once rather than at its restart.
CREATE OR REPLACE FUNCTION dan_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('dan_keys_changed_' || substr(md5(TG_TABLE_SCHEMA), 1, 12), '');
  PERFORM pg_notify('dan_keys_changed', '');
  RETURN NULL;
END $$;
