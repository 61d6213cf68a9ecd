-- Tenant isolation inside the database, beside the SQL filters: every
-- tenant table admits only the rows of the tenant named by the
-- transaction-local setting `trellis.tenant_id` (set by the store's tenant
-- handle at the start of each transaction). Without the setting no row is
-- visible and none can be written.
--
-- The server works as `trellis_app`: it owns nothing, has no BYPASSRLS,
-- and only reads and writes rows. The role that runs these migrations owns
-- the tables; the server's login role is made a member of `trellis_app`
-- and switches to it on connect (`SET ROLE`), so row security applies to
-- it even when the login role is the owner.

DO $$
BEGIN
    CREATE ROLE trellis_app NOLOGIN NOBYPASSRLS;
EXCEPTION
    -- Another database of this cluster (or a concurrent migration) made it.
    WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO trellis_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO trellis_app', current_schema());
    -- So that the migrating role may `SET ROLE trellis_app` itself.
    EXECUTE format('GRANT trellis_app TO %I', current_user);
END $$;

DO $$
DECLARE
    scoped TEXT;
BEGIN
    FOREACH scoped IN ARRAY ARRAY[
        'runs', 'node_runs', 'plugin_kv', 'workflow_versions', 'members', 'api_keys', 'refresh_tokens',
        'audit_log', 'tenant_keys', 'secrets', 'plugin_grants', 'plugin_installs', 'webhooks',
        'cron_schedules', 'usage_daily', 'llm_providers', 'llm_usage_daily'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', scoped);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I USING (tenant_id = current_setting(''trellis.tenant_id'', true)) '
            'WITH CHECK (tenant_id = current_setting(''trellis.tenant_id'', true))', scoped);
    END LOOP;
END $$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON tenants
    USING (id = current_setting('trellis.tenant_id', true))
    WITH CHECK (id = current_setting('trellis.tenant_id', true));
