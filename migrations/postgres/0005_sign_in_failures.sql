-- Failed sign-ins per throttle key (a hash of an email and an address, or
-- of an address alone), counted in windows that start at a key's first
-- failure, so every process of a cluster counts the same failures. The
-- keys name no tenant (a sign-in has none yet): no row security; the
-- server's role reads and writes the table directly.
CREATE TABLE sign_in_failures (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_start ON sign_in_failures (window_start);

GRANT SELECT, INSERT, UPDATE, DELETE ON sign_in_failures TO trellis_app;
