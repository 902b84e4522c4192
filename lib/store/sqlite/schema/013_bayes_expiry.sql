-- 013: Bayes token expiry (SpamAssassin's bayes_auto_expire). last_seen is
-- the day (Unix time / 86400, UTC) a token was last trained; tokens that
-- exist when this migration runs count as seen on the day it runs. The
-- expiry (ExpireTokens) drops tokens seen once and not since, and the least
-- recently seen tokens of a database beyond its size cap.
ALTER TABLE spam_tokens ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
UPDATE spam_tokens SET last_seen = CAST(strftime('%s', 'now') AS INTEGER) / 86400;
