-- 004: DKIM signing keys of the local domains (RFC 6376, RFC 8463).
--
-- One row per domain and selector. private_key is the PKCS #8 DER of the
-- key, stored as given. active = 1: the key signs new mail; an inactive key
-- stays (its DNS record may too) until it is deleted. Deleting a domain
-- deletes its keys.
CREATE TABLE dkim_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    selector    TEXT    NOT NULL COLLATE NOCASE,
    algorithm   TEXT    NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    private_key BLOB    NOT NULL,
    created     INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    UNIQUE (domain_id, selector)
);
