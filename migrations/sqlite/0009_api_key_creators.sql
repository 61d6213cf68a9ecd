-- Who created each API key (`member:<id>` or `key:<id>`), so revoking a
-- key revokes the keys it made, and removing a member revokes theirs.
ALTER TABLE api_keys ADD COLUMN created_by TEXT;
CREATE INDEX api_keys_by_creator ON api_keys (tenant_id, created_by) WHERE created_by IS NOT NULL;
