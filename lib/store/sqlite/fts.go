package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode/utf8"

	"gannet/lib/store"
)

// The full-text index: the FTS5 table message_text (trigram tokenizer,
// contentless, rowid = messages.id) and message_text_pending, the messages
// still to index, filled by a trigger on messages (schema 007).

// IndexPending returns up to limit messages not indexed yet, oldest first.
func (s *Store) IndexPending(ctx context.Context, limit int) ([]store.Message, error) {
	if limit <= 0 {
		limit = 100
	}
	out, err := queryAll(ctx, s.rdb, scanMessage,
		"SELECT "+msgCols+" FROM messages WHERE id IN"+
			" (SELECT message_id FROM message_text_pending ORDER BY message_id LIMIT ?) ORDER BY id", limit)
	if err != nil {
		return nil, fmt.Errorf("pending text index: %w", err)
	}
	return out, nil
}

// IndexMessages stores the text of messages and marks them indexed. An
// entry whose message is gone, or already indexed, is skipped.
func (s *Store) IndexMessages(ctx context.Context, entries []store.IndexEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, e := range entries {
			res, err := tx.ExecContext(ctx, "DELETE FROM message_text_pending WHERE message_id = ?", e.MessageID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				continue // expunged meanwhile, or indexed by another process
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO message_text (rowid, hdr, body) VALUES (?, ?, ?)",
				e.MessageID, e.Header, e.Body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index %d messages: %w", len(entries), err)
	}
	return nil
}

// ftsPhrase quotes q as one FTS5 phrase: with the trigram tokenizer a
// phrase matches where q occurs as a substring, case-insensitively.
func ftsPhrase(q string) string {
	return `"` + strings.ReplaceAll(q, `"`, `""`) + `"`
}

// SearchText finds the mailbox's indexed messages whose field contains
// query, and lists the mailbox's messages not indexed yet. Both come from
// one snapshot, so every message of the mailbox is in exactly one of
// "indexed" and Unindexed.
func (s *Store) SearchText(ctx context.Context, accountID, mailboxID int64, query string, field store.TextField) (store.TextResult, error) {
	var res store.TextResult
	if utf8.RuneCountInString(query) < store.MinTextQuery {
		return res, fmt.Errorf("search text: query %q shorter than %d characters", query, store.MinTextQuery)
	}
	match := "body : " + ftsPhrase(query)
	if field == store.TextAll {
		match = "{hdr body} : " + ftsPhrase(query)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return res, fmt.Errorf("search text: %w", err)
	}
	defer tx.Rollback()
	res.Matches, err = queryAll(ctx, tx, scanInt64,
		"SELECT m.id FROM message_text AS t JOIN messages AS m ON m.id = t.rowid"+
			" WHERE message_text MATCH ? AND m.account_id = ? AND m.mailbox_id = ? ORDER BY m.id",
		match, accountID, mailboxID)
	if err != nil {
		return res, fmt.Errorf("search text: %w", err)
	}
	res.Unindexed, err = queryAll(ctx, tx, scanInt64,
		"SELECT m.id FROM message_text_pending AS p JOIN messages AS m ON m.id = p.message_id"+
			" WHERE m.account_id = ? AND m.mailbox_id = ? ORDER BY m.id",
		accountID, mailboxID)
	if err != nil {
		return res, fmt.Errorf("search text: %w", err)
	}
	return res, nil
}
