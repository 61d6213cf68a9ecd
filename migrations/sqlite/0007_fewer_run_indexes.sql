-- Every index a run row is in is a page rewritten in the WAL at each commit
-- that touches the run, so runs carry only the indexes queries need, and
-- only over the rows those queries ask for.
--
-- Unfinished runs (crash recovery; a tenant's concurrent-runs count at
-- admission): a finished run leaves this index and nothing replaces it.
-- Queries must spell the condition exactly so for SQLite to use it.
DROP INDEX runs_by_status;
DROP INDEX runs_active;
CREATE INDEX runs_unfinished ON runs (tenant_id, parent_run_id) WHERE status IN ('pending', 'running');

-- Child runs by parent: top-level runs (most of them) are not in it.
DROP INDEX runs_by_parent;
CREATE INDEX runs_by_parent ON runs (tenant_id, parent_run_id, parent_node_id) WHERE parent_run_id IS NOT NULL;
