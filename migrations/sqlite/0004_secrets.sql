-- Secrets are sealed with the tenant's data key (XChaCha20-Poly1305); the
-- data key is stored wrapped by the server's master key, never in clear.

CREATE TABLE tenant_keys (
    tenant_id   TEXT    NOT NULL PRIMARY KEY,
    wrapped_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE secrets (
    tenant_id  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- What a plugin may do in a tenant beyond its sandbox defaults: for now the
-- secret names it may read. JSON so the marketplace's grants fit the row.
CREATE TABLE plugin_grants (
    tenant_id  TEXT    NOT NULL,
    plugin     TEXT    NOT NULL,
    grants     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);
