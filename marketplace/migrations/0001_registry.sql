-- The registry (DESIGN §7): publishers with their Ed25519 keys, approved
-- by the operator, and every published version with its describe result.

CREATE TABLE publishers (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    -- NULL until the operator approves: only approved publishers publish.
    approved_at INTEGER
);

CREATE TABLE plugin_versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    publisher TEXT NOT NULL REFERENCES publishers (name),
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    license TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    -- The manifest exactly as signed, so a puller can verify the signature.
    manifest TEXT NOT NULL,
    signature TEXT NOT NULL,
    -- JSON: the node kinds `describe` returned in the sandbox at publish.
    kinds TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    yanked_at INTEGER,
    PRIMARY KEY (name, version)
);

CREATE INDEX plugin_versions_by_publisher ON plugin_versions (publisher);
