-- Which process drives a top-level run, and until when. A process renews
-- the leases it holds by heartbeat; a run whose lease has lapsed may be
-- claimed by another process, which resumes it from its records.
ALTER TABLE runs ADD COLUMN claimed_by TEXT;
ALTER TABLE runs ADD COLUMN lease_until INTEGER;
CREATE INDEX runs_claimable ON runs (lease_until) WHERE status IN ('pending', 'running') AND parent_run_id IS NULL;
-- What a heartbeat renews: a worker's unfinished runs (finished runs keep
-- their last worker's name, and drop out of this index).
CREATE INDEX runs_by_claimer ON runs (claimed_by) WHERE status IN ('pending', 'running');
