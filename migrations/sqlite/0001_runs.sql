-- Runs, node records, plugin kv and saved workflow versions. Every row
-- carries tenant_id; the engine reaches these tables only through a
-- tenant-bound store handle. Records are JSON; the columns beside them are
-- what queries filter on.

CREATE TABLE runs (
    tenant_id      TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    workflow_id    TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    parent_run_id  TEXT,
    parent_node_id TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    record         TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX runs_by_status ON runs (status);
CREATE INDEX runs_by_parent ON runs (tenant_id, parent_run_id, parent_node_id);

CREATE TABLE node_runs (
    tenant_id  TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    node_id    TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    record     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, node_id)
);

CREATE TABLE plugin_kv (
    tenant_id TEXT NOT NULL,
    plugin    TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (tenant_id, plugin, key)
);

CREATE TABLE workflow_versions (
    tenant_id   TEXT    NOT NULL,
    workflow_id TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    document    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, version)
);
