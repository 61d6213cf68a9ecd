-- The same tables as migrations/sqlite/ reach after all their steps, in
-- PostgreSQL's types: times are milliseconds since the epoch (BIGINT),
-- records are JSON text, sealed values and kv values are BYTEA. Every
-- table but `tenants` carries tenant_id; 0002 scopes each by it.

CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    plan       TEXT
);

CREATE TABLE runs (
    tenant_id      TEXT   NOT NULL,
    id             TEXT   NOT NULL,
    workflow_id    TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    parent_run_id  TEXT,
    parent_node_id TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    record         TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX runs_unfinished ON runs (tenant_id, parent_run_id) WHERE status IN ('pending', 'running');
CREATE INDEX runs_by_parent ON runs (tenant_id, parent_run_id, parent_node_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE node_runs (
    tenant_id  TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    node_id    TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    updated_at BIGINT  NOT NULL,
    record     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, node_id)
);

CREATE TABLE plugin_kv (
    tenant_id TEXT  NOT NULL,
    plugin    TEXT  NOT NULL,
    key       TEXT  NOT NULL,
    value     BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, plugin, key)
);

CREATE TABLE workflow_versions (
    tenant_id   TEXT   NOT NULL,
    workflow_id TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    document    TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, version)
);

CREATE TABLE members (
    tenant_id                TEXT    NOT NULL,
    id                       TEXT    NOT NULL,
    email                    TEXT    NOT NULL,
    role                     TEXT    NOT NULL,
    password_hash            TEXT    NOT NULL,
    created_at               BIGINT  NOT NULL,
    password_change_required BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX members_by_email ON members (email);

CREATE TABLE api_keys (
    tenant_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    key_hash   TEXT   NOT NULL UNIQUE,
    expires_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL,
    created_by TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX api_keys_by_creator ON api_keys (tenant_id, created_by) WHERE created_by IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    NOT NULL,
    member_id  TEXT    NOT NULL,
    family     TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    used       BOOLEAN NOT NULL DEFAULT FALSE,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);

CREATE TABLE audit_log (
    tenant_id TEXT   NOT NULL,
    id        TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    principal TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    target    TEXT   NOT NULL,
    details   TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE tenant_keys (
    tenant_id   TEXT   NOT NULL PRIMARY KEY,
    wrapped_key BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE secrets (
    tenant_id  TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    sealed     BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE plugin_grants (
    tenant_id  TEXT   NOT NULL,
    plugin     TEXT   NOT NULL,
    grants     TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);

CREATE TABLE plugin_installs (
    tenant_id    TEXT   NOT NULL,
    plugin       TEXT   NOT NULL,
    requirement  TEXT   NOT NULL,
    version      TEXT   NOT NULL,
    digest       TEXT   NOT NULL,
    installed_at BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);

CREATE TABLE webhooks (
    token       TEXT   NOT NULL PRIMARY KEY,
    tenant_id   TEXT   NOT NULL,
    workflow_id TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, workflow_id)
);

CREATE TABLE cron_schedules (
    tenant_id     TEXT    NOT NULL,
    workflow_id   TEXT    NOT NULL,
    trigger_index INTEGER NOT NULL,
    expression    TEXT    NOT NULL,
    input         TEXT    NOT NULL,
    next_fire_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, trigger_index)
);
CREATE INDEX cron_schedules_due ON cron_schedules (next_fire_at);

CREATE TABLE usage_daily (
    tenant_id       TEXT   NOT NULL,
    day             TEXT   NOT NULL,
    runs            BIGINT NOT NULL DEFAULT 0,
    node_executions BIGINT NOT NULL DEFAULT 0,
    fuel            BIGINT NOT NULL DEFAULT 0,
    http_calls      BIGINT NOT NULL DEFAULT 0,
    llm_tokens      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);

CREATE TABLE llm_providers (
    tenant_id      TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    -- JSON: kind, base URL, default and allowed models, max tokens, default flag.
    setting        TEXT   NOT NULL,
    -- The API key, sealed with the tenant's data key; never returned.
    api_key_sealed BYTEA,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE llm_usage_daily (
    tenant_id         TEXT   NOT NULL,
    day               TEXT   NOT NULL,
    provider          TEXT   NOT NULL,
    model             TEXT   NOT NULL,
    calls             BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, provider, model)
);

-- A top-level run started by someone is audited in the statement that
-- records it, and counted in its tenant's day, as on SQLite.
CREATE FUNCTION runs_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    run_day TEXT := to_char(to_timestamp(NEW.created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD');
    run_started_by TEXT := NEW.record::jsonb ->> 'started_by';
BEGIN
    IF NEW.parent_run_id IS NULL AND run_started_by IS NOT NULL THEN
        INSERT INTO audit_log (tenant_id, id, at, principal, action, target, details)
        VALUES (NEW.tenant_id, NEW.id, NEW.created_at, run_started_by, 'run.start', NEW.id,
                jsonb_build_object('workflow', NEW.workflow_id,
                                   'version', NEW.record::jsonb -> 'workflow_version')::text);
    END IF;
    INSERT INTO usage_daily (tenant_id, day, runs) VALUES (NEW.tenant_id, run_day, 1)
    ON CONFLICT (tenant_id, day) DO UPDATE SET runs = usage_daily.runs + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER runs_after_insert AFTER INSERT ON runs
FOR EACH ROW EXECUTE FUNCTION runs_after_insert();
