-- Plugins installed in a tenant (DESIGN §7, issue 5 line 5): a semver
-- range and the version it resolved to, pinned by digest until an explicit
-- upgrade. What the tenant granted stays in plugin_grants.
CREATE TABLE plugin_installs (
    tenant_id    TEXT    NOT NULL,
    plugin       TEXT    NOT NULL,
    requirement  TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    installed_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);
