-- 003: SCRAM-SHA-256 keys per account (RFC 7677), kept beside the password
-- hash so that the server never needs the plaintext password. The value is
-- the RFC 5803 string
--     SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
-- or '' for an account without keys (one whose password was set before this
-- migration, until it is set again).
ALTER TABLE accounts ADD COLUMN scram_sha256 TEXT NOT NULL DEFAULT '';
