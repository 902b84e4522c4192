-- 001_core: directory, mailboxes, messages, blobs, the change log.
--
-- Times are INTEGER Unix milliseconds (0: unset). Addresses and domain names
-- compare case-insensitively (COLLATE NOCASE); callers store them normalised.

CREATE TABLE domains (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    catch_all TEXT    NOT NULL DEFAULT '',
    created   INTEGER NOT NULL
);

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id      INTEGER NOT NULL REFERENCES domains(id),
    address        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    display_name   TEXT    NOT NULL DEFAULT '',
    password_hash  TEXT    NOT NULL DEFAULT '',
    quota_bytes    INTEGER NOT NULL DEFAULT 0,
    quota_messages INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created        INTEGER NOT NULL,
    -- modseq is the account's modification sequence (CONDSTORE, JMAP state).
    modseq         INTEGER NOT NULL DEFAULT 0,
    -- used_* track storage for quota checks without a scan.
    used_bytes     INTEGER NOT NULL DEFAULT 0,
    used_messages  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX accounts_domain ON accounts(domain_id);

CREATE TABLE app_passwords (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    label      TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    created    INTEGER NOT NULL,
    last_used  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_passwords_account ON app_passwords(account_id);

CREATE TABLE aliases (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    address   TEXT    NOT NULL UNIQUE COLLATE NOCASE
);
CREATE INDEX aliases_domain ON aliases(domain_id);

CREATE TABLE alias_targets (
    alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target   TEXT    NOT NULL,
    PRIMARY KEY (alias_id, position)
);

-- Groups and mailing lists (kind 'group' or 'list').
CREATE TABLE address_groups (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL CHECK (kind IN ('group', 'list')),
    address   TEXT    NOT NULL UNIQUE COLLATE NOCASE
);
CREATE INDEX address_groups_domain ON address_groups(domain_id);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES address_groups(id) ON DELETE CASCADE,
    member   TEXT    NOT NULL COLLATE NOCASE,
    PRIMARY KEY (group_id, member)
);
CREATE INDEX group_members_member ON group_members(member);

CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    special_use    TEXT    NOT NULL DEFAULT '',
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 0,
    subscribed     INTEGER NOT NULL DEFAULT 1,
    created        INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

-- Raw bytes, content-addressed by hex SHA-256 and reference-counted (messages
-- and queue entries hold references). The bytes live in chunks so that a
-- partial read or a stream never loads a large message whole.
CREATE TABLE blobs (
    id      TEXT    NOT NULL PRIMARY KEY,
    size    INTEGER NOT NULL,
    refs    INTEGER NOT NULL,
    created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX blobs_unreferenced ON blobs(id) WHERE refs <= 0;

CREATE TABLE blob_chunks (
    blob_id TEXT    NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (blob_id, seq)
);

-- Flags: the five system flags are bits of sysflags (\Seen 1, \Answered 2,
-- \Flagged 4, \Deleted 8, \Draft 16), so STATUS and SEARCH on them are
-- integer tests; keywords are one text, space-separated with a space at
-- each end (' $Junk work '), so a keyword test is instr(keywords, ' k ').
-- Both live in the message row: changing flags rewrites one row.
CREATE TABLE messages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    mailbox_id     INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid            INTEGER NOT NULL,
    modseq         INTEGER NOT NULL,
    blob_id        TEXT    NOT NULL REFERENCES blobs(id),
    size           INTEGER NOT NULL,
    internal_date  INTEGER NOT NULL,
    save_date      INTEGER NOT NULL,
    thread_id      INTEGER NOT NULL DEFAULT 0,
    sysflags       INTEGER NOT NULL DEFAULT 0,
    keywords       TEXT    NOT NULL DEFAULT ' ',
    date           INTEGER NOT NULL DEFAULT 0,
    subject        TEXT    NOT NULL DEFAULT '',
    from_addr      TEXT    NOT NULL DEFAULT '',
    to_addrs       TEXT    NOT NULL DEFAULT '',  -- newline-separated
    message_id     TEXT    NOT NULL DEFAULT '',
    in_reply_to    TEXT    NOT NULL DEFAULT '',  -- newline-separated
    refs           TEXT    NOT NULL DEFAULT '',  -- newline-separated
    preview        TEXT    NOT NULL DEFAULT '',
    has_attachment INTEGER NOT NULL DEFAULT 0,
    structure      BLOB,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_account_modseq ON messages(account_id, modseq);
CREATE INDEX messages_thread ON messages(account_id, thread_id);
CREATE INDEX messages_blob ON messages(blob_id);

-- Message-IDs seen in an account (each message's own, its References and
-- In-Reply-To) and the thread they belong to.
CREATE TABLE thread_refs (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    ref        TEXT    NOT NULL,
    thread_id  INTEGER NOT NULL,
    PRIMARY KEY (account_id, ref)
) WITHOUT ROWID;

-- The change log: one row per object changed, tagged with the account's
-- modseq at that change.
CREATE TABLE changes (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    modseq     INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    object_id  INTEGER NOT NULL,
    mailbox_id INTEGER NOT NULL DEFAULT 0,
    uid        INTEGER NOT NULL DEFAULT 0,
    op         TEXT    NOT NULL,
    time       INTEGER NOT NULL
);
CREATE INDEX changes_account_modseq ON changes(account_id, modseq);
