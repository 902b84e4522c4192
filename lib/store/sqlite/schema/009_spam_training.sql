-- 009: Bayes training events. A user's verdict on a message (moved into or
-- out of Junk, $Junk or $NotJunk set or cleared) waits here until the
-- trainer reads the message and trains the account's Bayes database.
-- message_id has no foreign key: the message may be expunged before the
-- trainer comes; blob_id names its raw bytes (which go with the last
-- message that holds them). Times are INTEGER Unix milliseconds.
CREATE TABLE spam_training (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL,
    blob_id    TEXT    NOT NULL,
    spam       INTEGER NOT NULL CHECK (spam IN (0, 1)),
    source     TEXT    NOT NULL,
    created    INTEGER NOT NULL
);
