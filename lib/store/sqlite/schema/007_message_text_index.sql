-- Full-text index of messages for IMAP SEARCH BODY and TEXT (RFC 9051
-- section 6.4.4). The trigram tokenizer makes a phrase query a
-- case-insensitive substring match for needles of three characters or
-- more, which is SEARCH's semantics. Contentless: the text lives in the
-- blob; rowid is messages.id. hdr holds the header (as written and with
-- RFC 2047 words decoded), body the decoded text parts.
CREATE VIRTUAL TABLE message_text USING fts5(
    hdr, body,
    content = '', contentless_delete = 1, tokenize = 'trigram'
);

-- Messages not indexed yet. Filled by trigger on delivery (and here for the
-- messages already stored); the indexer empties it in the background.
CREATE TABLE message_text_pending (
    message_id INTEGER PRIMARY KEY
);
INSERT INTO message_text_pending (message_id) SELECT id FROM messages;

CREATE TRIGGER message_text_add AFTER INSERT ON messages BEGIN
    INSERT INTO message_text_pending (message_id) VALUES (new.id);
END;

-- Expunge, mailbox and account deletion (cascades fire triggers too).
CREATE TRIGGER message_text_remove AFTER DELETE ON messages BEGIN
    DELETE FROM message_text_pending WHERE message_id = old.id;
    DELETE FROM message_text WHERE rowid = old.id;
END;
