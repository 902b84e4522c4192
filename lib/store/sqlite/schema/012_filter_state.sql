-- 012: what the spam filter and Sieve learn as mail passes. Times are INTEGER Unix
-- milliseconds.

-- Greylisting triplets (client network, sender, recipient), hashed.
CREATE TABLE greylist (
    key    TEXT    PRIMARY KEY,
    first  INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    passed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Sender reputation: verdict counts per IP, network, domain and address.
CREATE TABLE reputation (
    key     TEXT    PRIMARY KEY,
    spam    INTEGER NOT NULL DEFAULT 0,
    ham     INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL
) WITHOUT ROWID;

-- Message-IDs the accounts sent, for trusted replies.
CREATE TABLE sent_message_ids (
    msgid      TEXT    NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    time       INTEGER NOT NULL,
    PRIMARY KEY (msgid, account_id)
) WITHOUT ROWID;
CREATE INDEX sent_message_ids_time ON sent_message_ids(time);
CREATE INDEX greylist_last ON greylist(last);
CREATE INDEX reputation_updated ON reputation(updated);

-- Per-account spam thresholds (userctl user spam); none: the configured ones.
CREATE TABLE spam_thresholds (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    spam       REAL    NOT NULL,
    reject     REAL    NOT NULL
);

-- Keys Sieve's duplicate (RFC 7352) and vacation (RFC 5230) extensions
-- remember for a while, per account.
CREATE TABLE sieve_seen (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    until      INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
CREATE INDEX sieve_seen_until ON sieve_seen(until);
