-- LLM provider settings a tenant made, and token use per day and model.

CREATE TABLE llm_providers (
    tenant_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    -- JSON: kind, base URL, default and allowed models, max tokens, default flag.
    setting        TEXT NOT NULL,
    -- The API key, sealed with the tenant's data key; never returned.
    api_key_sealed BLOB,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE llm_usage_daily (
    tenant_id         TEXT NOT NULL,
    day               TEXT NOT NULL,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    calls             INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, provider, model)
);
