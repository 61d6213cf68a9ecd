-- The lookups made before a tenant is known, and finding work across
-- tenants. The server's role sees no row without a tenant, so each of
-- these is a function that runs as the tables' owner (SECURITY DEFINER):
-- a small, named surface that returns only what its caller needs. Each
-- pins its search_path to the schema it was created in, so no caller can
-- substitute a table of its own.

CREATE FUNCTION trellis_member_by_email(p_email TEXT)
RETURNS TABLE (tenant_id TEXT, password_hash TEXT, id TEXT, email TEXT, role TEXT, password_change_required BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT m.tenant_id, m.password_hash, m.id, m.email, m.role, m.password_change_required
      FROM members m WHERE m.email = p_email
$$;

CREATE FUNCTION trellis_api_key_by_hash(p_hash TEXT)
RETURNS TABLE (tenant_id TEXT, id TEXT, name TEXT, role TEXT, expires_at BIGINT, revoked_at BIGINT,
               created_at BIGINT, created_by TEXT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT k.tenant_id, k.id, k.name, k.role, k.expires_at, k.revoked_at, k.created_at, k.created_by
      FROM api_keys k WHERE k.key_hash = p_hash
$$;

-- Marks a refresh token used; a second use revokes its whole family.
CREATE FUNCTION trellis_use_refresh_token(p_hash TEXT, p_now BIGINT)
RETURNS TABLE (outcome TEXT, tenant_id TEXT, member_id TEXT, family TEXT)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    token refresh_tokens%ROWTYPE;
BEGIN
    SELECT * INTO token FROM refresh_tokens t WHERE t.token_hash = p_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid'::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT;
        RETURN;
    END IF;
    IF token.used THEN
        UPDATE refresh_tokens t SET revoked = TRUE WHERE t.family = token.family;
        RETURN QUERY SELECT 'reused'::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT;
        RETURN;
    END IF;
    IF token.revoked OR token.expires_at < p_now THEN
        RETURN QUERY SELECT 'invalid'::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT;
        RETURN;
    END IF;
    UPDATE refresh_tokens t SET used = TRUE WHERE t.token_hash = p_hash;
    RETURN QUERY SELECT 'fresh'::TEXT, token.tenant_id, token.member_id, token.family;
END $$;

CREATE FUNCTION trellis_webhook_by_token(p_token TEXT)
RETURNS TABLE (tenant_id TEXT, workflow_id TEXT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT w.tenant_id, w.workflow_id FROM webhooks w WHERE w.token = p_token
$$;

CREATE FUNCTION trellis_has_tenants() RETURNS BOOLEAN
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT EXISTS (SELECT 1 FROM tenants)
$$;

-- Top-level runs not finished, oldest first: what recovery resumes.
CREATE FUNCTION trellis_unfinished_runs()
RETURNS TABLE (tenant_id TEXT, id TEXT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT r.tenant_id, r.id FROM runs r
     WHERE r.status IN ('pending', 'running') AND r.parent_run_id IS NULL
     ORDER BY r.created_at
$$;

CREATE FUNCTION trellis_due_crons(p_now BIGINT, p_limit BIGINT)
RETURNS TABLE (tenant_id TEXT, workflow_id TEXT, trigger_index BIGINT, expression TEXT, input TEXT,
               next_fire_at BIGINT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT c.tenant_id, c.workflow_id, c.trigger_index::BIGINT, c.expression, c.input, c.next_fire_at
      FROM cron_schedules c WHERE c.next_fire_at <= p_now
     ORDER BY c.next_fire_at LIMIT p_limit
$$;

DO $$
DECLARE
    lookup TEXT;
BEGIN
    FOREACH lookup IN ARRAY ARRAY[
        'trellis_member_by_email(TEXT)', 'trellis_api_key_by_hash(TEXT)',
        'trellis_use_refresh_token(TEXT, BIGINT)', 'trellis_webhook_by_token(TEXT)', 'trellis_has_tenants()',
        'trellis_unfinished_runs()', 'trellis_due_crons(BIGINT, BIGINT)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', lookup);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO trellis_app', lookup);
    END LOOP;
END $$;
