-- 011: auto-ban counters (lib/ban). One row per (kind, key, event): the
-- failures or abuse counted from an address (kind 'ip') or for a login
-- (kind 'login') within a window that began at start and ends at until;
-- a counter whose window has ended starts again at one. Times are INTEGER
-- Unix milliseconds.
CREATE TABLE ban_counters (
    kind   TEXT    NOT NULL CHECK (kind IN ('ip', 'login')),
    key    TEXT    NOT NULL COLLATE NOCASE,
    event  TEXT    NOT NULL,
    count  INTEGER NOT NULL,
    start  INTEGER NOT NULL,
    until  INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (kind, key, event)
) WITHOUT ROWID;
CREATE INDEX ban_counters_until ON ban_counters(until);
