-- Failed sign-ins per throttle key (a hash of an email and an address, or
-- of an address alone), counted in windows that start at a key's first
-- failure. Kept in the database so every process sharing it counts the
-- same failures; rows of ended windows are deleted as failures come in.
CREATE TABLE sign_in_failures (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_by_start ON sign_in_failures (window_start);
