-- A tenant's plan (its quotas, JSON; NULL = the default plan) and its
-- metered usage per UTC day.

ALTER TABLE tenants ADD COLUMN plan TEXT;

CREATE TABLE usage_daily (
    tenant_id       TEXT    NOT NULL,
    day             TEXT    NOT NULL,
    runs            INTEGER NOT NULL DEFAULT 0,
    node_executions INTEGER NOT NULL DEFAULT 0,
    fuel            INTEGER NOT NULL DEFAULT 0,
    http_calls      INTEGER NOT NULL DEFAULT 0,
    llm_tokens      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);

-- Counting a tenant's active top-level runs, at every start.
CREATE INDEX runs_active ON runs (tenant_id, status, parent_run_id);

-- A top-level run counts toward its day's runs in the statement that
-- inserts it: admission is one atomic statement, with no transaction
-- around it.
CREATE TRIGGER runs_count_daily AFTER INSERT ON runs WHEN NEW.parent_run_id IS NULL
BEGIN
    INSERT OR IGNORE INTO usage_daily (tenant_id, day) VALUES (NEW.tenant_id, date(NEW.created_at / 1000, 'unixepoch'));
    UPDATE usage_daily SET runs = runs + 1
     WHERE tenant_id = NEW.tenant_id AND day = date(NEW.created_at / 1000, 'unixepoch');
END;

-- A top-level run started through the server is audited in the same
-- statement (`started_by` in its record; the audit id is the run's id,
-- time-ordered like every audit id).
CREATE TRIGGER runs_audit_start AFTER INSERT ON runs
WHEN NEW.parent_run_id IS NULL AND json_extract(NEW.record, '$.started_by') IS NOT NULL
BEGIN
    INSERT INTO audit_log (tenant_id, id, at, principal, action, target, details)
    VALUES (NEW.tenant_id, NEW.id, NEW.created_at, json_extract(NEW.record, '$.started_by'), 'run.start', NEW.id,
            json_object('workflow', NEW.workflow_id, 'version', json_extract(NEW.record, '$.workflow_version')));
END;
