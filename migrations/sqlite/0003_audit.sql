-- Who did what, when, per tenant. Append-only.
CREATE TABLE audit_log (
    tenant_id TEXT    NOT NULL,
    id        TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    principal TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    details   TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
