-- A run that only waits (on an approval, a delay, a retry's backoff) is set
-- aside: no process holds it or keeps anything of it in memory. It records
-- when it is next due (the largest integer when only a signal wakes it);
-- a signal written for it makes it due at once (0), and a claim takes it
-- again.
ALTER TABLE runs ADD COLUMN parked_until INTEGER;
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
