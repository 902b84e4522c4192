-- 010: Bayes bookkeeping. spam_totals.generation changes with every change
-- to an account's tokens, so processes caching the counts know when to
-- reload them. spam_seen records the messages each Bayes database learned
-- (a 64-bit hash of the body), so one is never counted twice (SpamAssassin's
-- seen database). spam_training_cursor is the trainer's durable cursor over
-- spam_training and the lease that lets one process at a time apply events.
ALTER TABLE spam_totals ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

CREATE TABLE spam_seen (
    account_id INTEGER NOT NULL,
    hash       INTEGER NOT NULL,
    spam       INTEGER NOT NULL CHECK (spam IN (0, 1)),
    PRIMARY KEY (account_id, hash)
) WITHOUT ROWID;

CREATE TRIGGER accounts_delete_spam_seen AFTER DELETE ON accounts
BEGIN
    DELETE FROM spam_seen WHERE account_id = OLD.id;
END;

-- One row (id 1). last_id: events up to it are applied. owner and
-- lease_until (Unix milliseconds): who is applying the events past it.
CREATE TABLE spam_training_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_id     INTEGER NOT NULL DEFAULT 0,
    owner       TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0
);
INSERT INTO spam_training_cursor (id) VALUES (1);
