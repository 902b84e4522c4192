package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gannet/lib/store"
)

// ClaimRecent implements store.Mailboxes: it raises the mailbox's \Recent
// boundary to upTo (when higher) and tells the boundary before and how
// many messages are at or above it, in one transaction, so two sessions
// never both claim a message (RFC 3501 section 2.3.2). upTo 0 only reads.
func (s *Store) ClaimRecent(ctx context.Context, accountID, mailboxID int64, upTo uint32) (from, count uint32, err error) {
	read := func(ctx context.Context, q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) error {
		return q.QueryRowContext(ctx, `SELECT recent_uid,
			(SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id AND uid >= mailboxes.recent_uid)
			FROM mailboxes WHERE id = ? AND account_id = ?`, mailboxID, accountID).Scan(&from, &count)
	}
	if upTo == 0 {
		err = read(ctx, s.rdb)
	} else {
		err = s.write(ctx, func(tx *sql.Tx) error {
			if err := read(ctx, tx); err != nil {
				return err
			}
			if upTo <= from {
				return nil
			}
			_, err := tx.ExecContext(ctx, "UPDATE mailboxes SET recent_uid = ? WHERE id = ?", int64(upTo), mailboxID)
			return err
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("recent of mailbox %d: %w", mailboxID, err)
	}
	return from, count, nil
}
