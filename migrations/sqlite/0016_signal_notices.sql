-- Approvals and cancel requests written by one process for a run another
-- process drives (a `trellis approve` beside a `trellis run`, say): each
-- process reads the rows others added, a few times a second, as its one
-- watcher. Rows older than a minute are deleted as new ones come in.
CREATE TABLE signal_notices (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    origin     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    notice     TEXT    NOT NULL
);
CREATE INDEX signal_notices_by_age ON signal_notices (created_at);
