-- 002: the mail queue, bans, Bayes spam tokens, Sieve scripts, certificates.
--
-- Times are INTEGER Unix milliseconds (0: unset), as in 001_core.

-- The queue: one row per queued message, holding one reference to the blob
-- of its raw bytes. lease_owner/lease_until say which worker holds the entry
-- ('' and 0 when nobody does); a lease that has run out is free to take.
CREATE TABLE queue (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    sender         TEXT    NOT NULL COLLATE NOCASE,  -- '' for the null sender
    blob_id        TEXT    NOT NULL REFERENCES blobs(id),
    size           INTEGER NOT NULL,
    created        INTEGER NOT NULL,
    next_attempt   INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL CHECK (status IN ('active', 'held', 'done')),
    dsn_ret        TEXT    NOT NULL DEFAULT '',
    dsn_envid      TEXT    NOT NULL DEFAULT '',
    require_tls    INTEGER NOT NULL DEFAULT 0,
    smtputf8       INTEGER NOT NULL DEFAULT 0,
    -- The submitter's account; no foreign key: deleting an account must not
    -- drop mail it already sent.
    auth_account   INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT    NOT NULL DEFAULT '',
    lease_until    INTEGER NOT NULL DEFAULT 0,
    delay_notified INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT    NOT NULL DEFAULT ''
);
-- Lease scans due active entries in next_attempt order.
CREATE INDEX queue_due ON queue(next_attempt, id) WHERE status = 'active';
CREATE INDEX queue_sender ON queue(sender);

-- Envelope recipients of a queue entry, in envelope order (position).
-- domain is the part of address after its last '@', lower-case, for
-- listing by recipient domain.
CREATE TABLE queue_recipients (
    queue_id   INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    address    TEXT    NOT NULL COLLATE NOCASE,
    domain     TEXT    NOT NULL COLLATE NOCASE,
    notify     TEXT    NOT NULL DEFAULT '',  -- comma-separated NOTIFY list
    orcpt      TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    last_error TEXT    NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, position)
) WITHOUT ROWID;
CREATE INDEX queue_recipients_address ON queue_recipients(address);
CREATE INDEX queue_recipients_domain ON queue_recipients(domain);

-- Bans and allow-list entries, one per (kind, key): an allow entry for a
-- key replaces its ban and the other way round. expires 0 means never.
CREATE TABLE bans (
    kind    TEXT    NOT NULL CHECK (kind IN ('ip', 'login')),
    key     TEXT    NOT NULL COLLATE NOCASE,
    reason  TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL DEFAULT 0,
    allow   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX bans_expires ON bans(expires) WHERE expires <> 0;

-- Bayes token counts. account_id 0 is the global database, so the column
-- has no foreign key; the trigger below drops an account's rows with it.
-- token is the uint64 token hash stored with the same bits as an INTEGER.
CREATE TABLE spam_tokens (
    account_id INTEGER NOT NULL,
    token      INTEGER NOT NULL,
    spam       INTEGER NOT NULL DEFAULT 0,
    ham        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, token)
) WITHOUT ROWID;

-- How many messages each Bayes database was trained on.
CREATE TABLE spam_totals (
    account_id INTEGER PRIMARY KEY,
    spam       INTEGER NOT NULL DEFAULT 0,
    ham        INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER accounts_delete_spam AFTER DELETE ON accounts
BEGIN
    DELETE FROM spam_tokens WHERE account_id = OLD.id;
    DELETE FROM spam_totals WHERE account_id = OLD.id;
END;

-- Sieve scripts; names are case-sensitive (compared as bytes).
CREATE TABLE sieve_scripts (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    updated    INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
);
-- At most one active script per account.
CREATE UNIQUE INDEX sieve_scripts_one_active ON sieve_scripts(account_id) WHERE active = 1;

-- TLS certificates by primary name; domains is newline-separated.
CREATE TABLE certificates (
    name      TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
    domains   TEXT    NOT NULL DEFAULT '',
    cert_pem  BLOB    NOT NULL,
    key_pem   BLOB    NOT NULL,
    not_after INTEGER NOT NULL DEFAULT 0,
    updated   INTEGER NOT NULL
) WITHOUT ROWID;
