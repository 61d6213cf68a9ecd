-- A run that only waits (on an approval, a delay, a retry's backoff) is set
-- aside: no process holds it or keeps anything of it in memory. It records
-- when it is next due (the largest BIGINT when only a signal wakes it); a
-- signal written for it makes it due at once, and a claim takes it again.

ALTER TABLE runs ADD COLUMN parked_until BIGINT;
-- Runs not set aside are few (being driven, or recorded for a worker),
-- claimed oldest first; the set-aside ones may be many, and stay out of
-- this index. They are in the next, in the order they are due (a signal
-- makes a run due at 0: at once).
DROP INDEX runs_claimable;
CREATE INDEX runs_claimable ON runs (created_at)
    WHERE status IN ('pending', 'running') AND parent_run_id IS NULL AND parked_until IS NULL;
CREATE INDEX runs_set_aside ON runs (parked_until) WHERE parked_until IS NOT NULL;
-- A set-aside run holds no place among its tenant's concurrent runs: what
-- admission counts is this index, so a start costs the same however many
-- runs wait.
CREATE INDEX runs_active ON runs (tenant_id) WHERE status IN ('pending', 'running') AND parked_until IS NULL;

-- Free or lapsed runs oldest first, then set-aside runs that are due,
-- earliest first; a claimed run is no longer set aside.
CREATE OR REPLACE FUNCTION trellis_claim_runs(p_worker TEXT, p_now BIGINT, p_until BIGINT, p_limit BIGINT)
RETURNS TABLE (tenant_id TEXT, id TEXT)
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH ready AS (
        SELECT r.tenant_id, r.id FROM runs r
         WHERE r.status IN ('pending', 'running') AND r.parent_run_id IS NULL AND r.parked_until IS NULL
           AND (r.lease_until IS NULL OR r.lease_until < p_now)
         ORDER BY r.created_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), due AS (
        SELECT r.tenant_id, r.id FROM runs r
         WHERE r.parked_until <= p_now
         ORDER BY r.parked_until
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), free AS (
        SELECT * FROM ready UNION ALL SELECT * FROM due LIMIT p_limit
    )
    UPDATE runs r SET claimed_by = p_worker, lease_until = p_until, parked_until = NULL
      FROM free WHERE r.tenant_id = free.tenant_id AND r.id = free.id
    RETURNING r.tenant_id, r.id
$$;

-- Taken unless another process holds a live lease on it; a set-aside run
-- is taken out of waiting.
CREATE OR REPLACE FUNCTION trellis_claim_run(p_tenant TEXT, p_id TEXT, p_worker TEXT, p_now BIGINT, p_until BIGINT)
RETURNS BOOLEAN
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH taken AS (
        UPDATE runs r SET claimed_by = p_worker, lease_until = p_until, parked_until = NULL
         WHERE r.tenant_id = p_tenant AND r.id = p_id AND r.status IN ('pending', 'running')
           AND (r.lease_until IS NULL OR r.lease_until < p_now OR r.claimed_by = p_worker)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM taken)
$$;

CREATE FUNCTION trellis_release_leases_except(p_worker TEXT)
RETURNS VOID
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    UPDATE runs r SET claimed_by = NULL, lease_until = NULL
     WHERE r.status IN ('pending', 'running') AND r.claimed_by IS NOT NULL AND r.claimed_by <> p_worker
$$;

CREATE FUNCTION trellis_next_due()
RETURNS BIGINT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT min(r.parked_until) FROM runs r
     WHERE r.parked_until IS NOT NULL AND r.parked_until < 9223372036854775807
$$;

DO $$
DECLARE
    claiming TEXT;
BEGIN
    FOREACH claiming IN ARRAY ARRAY['trellis_release_leases_except(TEXT)', 'trellis_next_due()'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', claiming);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO trellis_app', claiming);
    END LOOP;
END $$;
