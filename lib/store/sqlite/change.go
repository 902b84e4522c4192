package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gannet/lib/store"
)

// bumpModSeq raises the account's modification sequence by one, queues the
// OnChange call for after the commit, and returns the new value.
func (s *Store) bumpModSeq(ctx context.Context, tx *sql.Tx, accountID int64) (uint64, error) {
	var modseq uint64
	err := tx.QueryRowContext(ctx,
		"UPDATE accounts SET modseq = modseq + 1 WHERE id = ? RETURNING modseq", accountID).Scan(&modseq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("account %d: modseq: %w", accountID, err)
	}
	s.changed(accountID, modseq)
	return modseq, nil
}

const qChangeInsert = `INSERT INTO changes (account_id, modseq, kind, object_id, mailbox_id, uid, op, time)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// logChange appends c to the change log.
func (s *Store) logChange(ctx context.Context, tx *sql.Tx, c store.Change) error {
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	_, err := s.execP(ctx, tx, qChangeInsert, c.AccountID, int64(c.ModSeq), string(c.Kind), c.ObjectID, c.MailboxID, int64(c.UID), string(c.Op), dbTime(c.Time))
	if err != nil {
		return fmt.Errorf("change log: %w", err)
	}
	return nil
}

// AccountModSeq returns the account's highest modification sequence.
func (s *Store) AccountModSeq(ctx context.Context, accountID int64) (uint64, error) {
	var modseq uint64
	err := s.rdb.QueryRowContext(ctx, "SELECT modseq FROM accounts WHERE id = ?", accountID).Scan(&modseq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("account %d: modseq: %w", accountID, err)
	}
	return modseq, nil
}

// ChangesSince lists the account's changes with ModSeq > since, oldest
// first, at most limit of them (0: all).
func (s *Store) ChangesSince(ctx context.Context, accountID int64, since uint64, limit int) ([]store.Change, error) {
	q := `SELECT modseq, kind, object_id, mailbox_id, uid, op, time FROM changes
		WHERE account_id = ? AND modseq > ? ORDER BY modseq, id`
	args := []any{accountID, int64(since)}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	out, err := queryAll(ctx, s.rdb, func(sc rowScanner) (store.Change, error) {
		c := store.Change{AccountID: accountID}
		var kind, op string
		var uid, t int64
		err := sc.Scan(&c.ModSeq, &kind, &c.ObjectID, &c.MailboxID, &uid, &op, &t)
		c.Kind, c.Op, c.UID, c.Time = store.ChangeKind(kind), store.ChangeOp(op), uint32(uid), goTime(t)
		return c, err
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("changes of account %d: %w", accountID, err)
	}
	return out, nil
}

// PruneChanges removes the changes made before the given time. For each
// account it finds the highest mod-sequence among them (the new horizon),
// deletes every change up to it and keeps one ChangePruned entry there, so
// that ChangesSince from below the horizon starts with that entry.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	var removed int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT account_id, MAX(modseq) FROM changes
			WHERE time < ? AND kind != ? GROUP BY account_id`, dbTime(before), string(store.ChangePruned))
		if err != nil {
			return err
		}
		type horizon struct {
			account int64
			modseq  int64
		}
		var hs []horizon
		for rows.Next() {
			var h horizon
			if err := rows.Scan(&h.account, &h.modseq); err != nil {
				rows.Close()
				return err
			}
			hs = append(hs, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, h := range hs {
			// One marker per account: the old one goes with the rest.
			if _, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE account_id = ? AND kind = ?", h.account, string(store.ChangePruned)); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE account_id = ? AND modseq <= ?", h.account, h.modseq)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, qChangeInsert, h.account, h.modseq, string(store.ChangePruned), 0, 0, 0, string(store.OpDestroyed), dbTime(time.Now())); err != nil {
				return err
			}
			removed += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pruning the change log: %w", err)
	}
	return removed, nil
}
