-- The \Recent boundary of IMAP4rev1 (RFC 3501 section 2.3.2): messages with
-- a UID at or above recent_uid have not been seen by any IMAP4rev1 session
-- that selected the mailbox read-write, and are \Recent to the next one.
-- Existing mailboxes start with nothing recent; new ones with everything.
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET recent_uid = uidnext;
