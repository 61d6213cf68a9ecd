-- Triggers of the latest version of each workflow, kept in step with it by
-- the transaction that saves a version.

-- One hook URL per workflow; the token stays the same across versions.
CREATE TABLE webhooks (
    token       TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    workflow_id TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, workflow_id)
);

-- One row per cron trigger. `next_fire_at` only moves forward, by a
-- compare-and-set, so each fire happens once.
CREATE TABLE cron_schedules (
    tenant_id     TEXT    NOT NULL,
    workflow_id   TEXT    NOT NULL,
    trigger_index INTEGER NOT NULL,
    expression    TEXT    NOT NULL,
    input         TEXT    NOT NULL,
    next_fire_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, trigger_index)
);
CREATE INDEX cron_schedules_due ON cron_schedules (next_fire_at);
