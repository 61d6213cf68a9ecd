-- Which process drives a top-level run, and until when. A process renews
-- the leases it holds by heartbeat; a run whose lease has lapsed is
-- claimed by another, which resumes it from its records. Claiming crosses
-- tenants, so, like the lookups of 0003, it is a set of SECURITY DEFINER
-- functions executable only by the server's role.

ALTER TABLE runs ADD COLUMN claimed_by TEXT;
ALTER TABLE runs ADD COLUMN lease_until BIGINT;
CREATE INDEX runs_claimable ON runs (lease_until) WHERE status IN ('pending', 'running') AND parent_run_id IS NULL;
-- What a heartbeat renews: a worker's unfinished runs (finished runs keep
-- their last worker's name, and drop out of this index).
CREATE INDEX runs_by_claimer ON runs (claimed_by) WHERE status IN ('pending', 'running');

-- Up to p_limit unfinished top-level runs whose lease is free or lapsed,
-- oldest first. SKIP LOCKED: processes claiming at once take disjoint sets
-- instead of waiting on each other's rows.
CREATE FUNCTION trellis_claim_runs(p_worker TEXT, p_now BIGINT, p_until BIGINT, p_limit BIGINT)
RETURNS TABLE (tenant_id TEXT, id TEXT)
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH free AS (
        SELECT r.tenant_id, r.id FROM runs r
         WHERE r.status IN ('pending', 'running') AND r.parent_run_id IS NULL
           AND (r.lease_until IS NULL OR r.lease_until < p_now)
         ORDER BY r.created_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    )
    UPDATE runs r SET claimed_by = p_worker, lease_until = p_until
      FROM free WHERE r.tenant_id = free.tenant_id AND r.id = free.id
    RETURNING r.tenant_id, r.id
$$;

-- One run, for the process that has just recorded it: taken unless
-- another process holds a live lease on it.
CREATE FUNCTION trellis_claim_run(p_tenant TEXT, p_id TEXT, p_worker TEXT, p_now BIGINT, p_until BIGINT)
RETURNS BOOLEAN
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH taken AS (
        UPDATE runs r SET claimed_by = p_worker, lease_until = p_until
         WHERE r.tenant_id = p_tenant AND r.id = p_id AND r.status IN ('pending', 'running')
           AND (r.lease_until IS NULL OR r.lease_until < p_now OR r.claimed_by = p_worker)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM taken)
$$;

-- The heartbeat: extends every unfinished run's lease the worker still
-- holds, and says which those are (a run another process took is not).
CREATE FUNCTION trellis_renew_leases(p_worker TEXT, p_until BIGINT)
RETURNS TABLE (tenant_id TEXT, id TEXT)
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    UPDATE runs r SET lease_until = p_until
     WHERE r.claimed_by = p_worker AND r.status IN ('pending', 'running')
    RETURNING r.tenant_id, r.id
$$;

CREATE FUNCTION trellis_release_run(p_tenant TEXT, p_id TEXT, p_worker TEXT)
RETURNS VOID
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    UPDATE runs r SET claimed_by = NULL, lease_until = NULL
     WHERE r.tenant_id = p_tenant AND r.id = p_id AND r.claimed_by = p_worker
$$;

DO $$
DECLARE
    claiming TEXT;
BEGIN
    FOREACH claiming IN ARRAY ARRAY[
        'trellis_claim_runs(TEXT, BIGINT, BIGINT, BIGINT)', 'trellis_claim_run(TEXT, TEXT, TEXT, BIGINT, BIGINT)',
        'trellis_renew_leases(TEXT, BIGINT)', 'trellis_release_run(TEXT, TEXT, TEXT)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', claiming);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO trellis_app', claiming);
    END LOOP;
END $$;
