package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gannet/lib/store"
)

// The queue.
//
// An entry is a row of the queue table plus a queue_recipients row per
// envelope recipient, and holds one reference to the blob of its raw message:
// read the message with ReadBlob or OpenBlob and the entry's BlobID.
//
// Several queued processes share one queue. Lease takes due entries with a
// single UPDATE ... RETURNING inside a BEGIN IMMEDIATE transaction, so two
// workers, in one process or in several, never hold the same entry at once.
// A lease that runs out (its worker crashed or hung) is free for the next
// Lease. RenewLease and UpdateQueueEntry succeed only for the entry's lease
// owner, otherwise they return store.ErrLeaseLost; while nobody else has
// taken an entry, its owner may still renew or update it after the lease ran
// out.
//
// Settled entries are deleted, not kept: when UpdateQueueEntry leaves no
// recipient pending (or is given status QueueDone), or SetQueueStatus is
// given QueueDone, the entry and its recipients are deleted and its blob
// reference released in the same transaction. No entry is therefore ever
// seen with status QueueDone. The record of a delivery is the log and the
// DSNs queued sends, as with Postfix; the queue itself stays small.

// Compile-time check that *Store is a store.Queue.
var _ store.Queue = (*Store)(nil)

// queueColumns are the queue table's columns in the order scanQueueEntry
// reads them.
const queueColumns = `id, sender, blob_id, size, created, next_attempt, attempts, status,
	dsn_ret, dsn_envid, require_tls, smtputf8, auth_account, lease_owner, lease_until,
	delay_notified, last_error`

// scanQueueEntry reads one row of queueColumns.
func scanQueueEntry(sc rowScanner) (store.QueueEntry, error) {
	var e store.QueueEntry
	var created, next, until int64
	var status string
	var requireTLS, smtputf8, delayNotified bool
	err := sc.Scan(&e.ID, &e.Sender, &e.BlobID, &e.Size, &created, &next, &e.Attempts, &status,
		&e.DSNRet, &e.DSNEnvID, &requireTLS, &smtputf8, &e.AuthAccount, &e.LeaseOwner, &until,
		&delayNotified, &e.LastError)
	if err != nil {
		return e, err
	}
	e.Created, e.NextAttempt, e.LeaseUntil = goTime(created), goTime(next), goTime(until)
	e.Status = store.QueueStatus(status)
	e.RequireTLS, e.SMTPUTF8, e.DelayNotified = requireTLS, smtputf8, delayNotified
	return e, nil
}

// queueLoadRecipients fills in the recipients of entries, in envelope order.
func queueLoadRecipients(ctx context.Context, q queryer, entries []store.QueueEntry) error {
	if len(entries) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(entries))
	ids := make([]int64, len(entries))
	for i, e := range entries {
		idx[e.ID] = i
		ids[i] = e.ID
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, `SELECT queue_id, address, notify, orcpt, status, last_error, attempts
		FROM queue_recipients WHERE queue_id IN (SELECT value FROM json_each(?))
		ORDER BY queue_id, position`, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var r store.QueueRecipient
		var notify, status string
		if err := rows.Scan(&id, &r.Address, &notify, &r.ORcpt, &status, &r.LastError, &r.Attempts); err != nil {
			return err
		}
		if notify != "" {
			r.Notify = strings.Split(notify, ",")
		}
		r.Status = store.RecipientStatus(status)
		i, ok := idx[id]
		if !ok {
			continue
		}
		entries[i].Recipients = append(entries[i].Recipients, r)
	}
	return rows.Err()
}

// recipientDomain is the part of addr after its last '@', lower-case; ""
// when there is none (e.g. <postmaster>, RFC 5321 section 4.1.1.3).
func recipientDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// validRecipientStatus reports whether s is a known recipient status.
func validRecipientStatus(s store.RecipientStatus) bool {
	switch s {
	case store.RcptPending, store.RcptDelivered, store.RcptFailed:
		return true
	}
	return false
}

// validateNewQueueEntry checks what Enqueue is given.
func validateNewQueueEntry(e *store.NewQueueEntry) error {
	if len(e.Recipients) == 0 {
		return errors.New("no recipients")
	}
	for _, r := range e.Recipients {
		if r.Address == "" {
			return errors.New("empty recipient address")
		}
		if r.Status != "" && !validRecipientStatus(r.Status) {
			return fmt.Errorf("recipient %s: unknown status %q", r.Address, r.Status)
		}
		for _, n := range r.Notify {
			if n == "" || strings.Contains(n, ",") {
				return fmt.Errorf("recipient %s: bad NOTIFY value %q", r.Address, n)
			}
		}
	}
	// RFC 3461 section 4.3: RET=FULL or RET=HDRS.
	switch strings.ToUpper(e.DSNRet) {
	case "", "FULL", "HDRS":
	default:
		return fmt.Errorf("bad DSN RET %q", e.DSNRet)
	}
	return nil
}

// Enqueue stores entries durably, sharing a commit with concurrent calls
// (group commit). Each entry's raw message becomes a blob reference; its
// recipients start pending (unless given another status) and it is due at
// once. The IDs come back in order.
func (s *Store) Enqueue(ctx context.Context, entries []store.NewQueueEntry) ([]int64, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	for i := range entries {
		if err := validateNewQueueEntry(&entries[i]); err != nil {
			return nil, fmt.Errorf("enqueue: entry %d: %w", i, err)
		}
	}
	var ids []int64
	err := s.grouped(ctx, func(tx *sql.Tx) error {
		ids = ids[:0] // fn may run again when its batch is retried
		now := dbTime(time.Now())
		for _, e := range entries {
			blob, err := s.putBlob(tx, e.Raw)
			if err != nil {
				return err
			}
			var id int64
			err = tx.QueryRow(`INSERT INTO queue (sender, blob_id, size, created, next_attempt,
				status, dsn_ret, dsn_envid, require_tls, smtputf8, auth_account)
				VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?) RETURNING id`,
				e.Sender, blob, len(e.Raw), now, now, strings.ToUpper(e.DSNRet), e.DSNEnvID,
				boolInt(e.RequireTLS), boolInt(e.SMTPUTF8), e.AuthAccount).Scan(&id)
			if err != nil {
				return fmt.Errorf("insert entry: %w", err)
			}
			for pos, r := range e.Recipients {
				status := r.Status
				if status == "" {
					status = store.RcptPending
				}
				if _, err := tx.Exec(`INSERT INTO queue_recipients (queue_id, position, address,
					domain, notify, orcpt, status, last_error, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					id, pos, r.Address, recipientDomain(r.Address), strings.Join(r.Notify, ","),
					r.ORcpt, string(status), r.LastError, r.Attempts); err != nil {
					return fmt.Errorf("insert recipient: %w", err)
				}
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return ids, nil
}

// Lease takes up to n active entries due at or before now whose lease is
// free or ran out before now, and holds them for owner until now+d. It
// returns them with their recipients, in order of next attempt.
func (s *Store) Lease(ctx context.Context, owner string, n int, now time.Time, d time.Duration) ([]store.QueueEntry, error) {
	if owner == "" {
		return nil, errors.New("lease: empty owner")
	}
	if d <= 0 {
		return nil, fmt.Errorf("lease: duration %v is not positive", d)
	}
	if n <= 0 {
		return nil, nil
	}
	var out []store.QueueEntry
	err := s.write(ctx, func(tx *sql.Tx) error {
		// One statement picks and marks the entries: whoever holds the write
		// lock sees the leases of every earlier transaction.
		var err error
		out, err = queryAll(ctx, tx, scanQueueEntry, `UPDATE queue SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM queue
				WHERE status = 'active' AND next_attempt <= ? AND lease_until < ?
				ORDER BY next_attempt, id LIMIT ?)
			RETURNING `+queueColumns,
			owner, dbTime(now.Add(d)), dbTime(now), dbTime(now), n)
		if err != nil {
			return err
		}
		return queueLoadRecipients(ctx, tx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("lease queue entries: %w", err)
	}
	slices.SortFunc(out, func(a, b store.QueueEntry) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// errLeaseGone is the error for an entry deleted under its lease holder: the
// lease is lost because the entry is gone.
func errLeaseGone(id int64) error {
	return fmt.Errorf("queue entry %d: %w (%w)", id, store.ErrLeaseLost, store.ErrNotFound)
}

// RenewLease extends owner's lease on entry id until until. It returns an
// error wrapping store.ErrLeaseLost when another worker holds the entry or
// the lease was released, and also store.ErrNotFound when the entry is gone.
func (s *Store) RenewLease(ctx context.Context, id int64, owner string, until time.Time) error {
	if owner == "" {
		return fmt.Errorf("renew lease: queue entry %d: empty owner: %w", id, store.ErrLeaseLost)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var holder string
		err := tx.QueryRowContext(ctx, `SELECT lease_owner FROM queue WHERE id = ?`, id).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return errLeaseGone(id)
		}
		if err != nil {
			return err
		}
		if holder != owner {
			return fmt.Errorf("queue entry %d: %w", id, store.ErrLeaseLost)
		}
		_, err = tx.ExecContext(ctx, `UPDATE queue SET lease_until = ? WHERE id = ?`, dbTime(until), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// UpdateQueueEntry saves what a delivery attempt learned: each recipient's
// status, last error and attempts (e.Recipients in the order Lease gave
// them), and the entry's attempts, next attempt, status, DelayNotified and
// last error; then it releases owner's lease. Other fields of e are ignored.
//
// When no recipient is left pending, or e.Status is QueueDone, the entry is
// settled: it is deleted and its blob reference released. An entry the
// administrator held while it was being worked stays held even when e.Status
// is QueueActive. It returns an error wrapping store.ErrLeaseLost when owner
// no longer holds the entry (and store.ErrNotFound as well when it is gone),
// in which case nothing is saved. On success e's lease fields are cleared and
// e.Status is QueueDone for a settled entry. Concurrent calls share commits.
func (s *Store) UpdateQueueEntry(ctx context.Context, e *store.QueueEntry, owner string) error {
	switch e.Status {
	case store.QueueActive, store.QueueHeld, store.QueueDone:
	default:
		return fmt.Errorf("update queue entry %d: unknown status %q", e.ID, e.Status)
	}
	settled := e.Status == store.QueueDone
	if !settled {
		settled = true
		for _, r := range e.Recipients {
			if r.Status == store.RcptPending {
				settled = false
			}
		}
	}
	for _, r := range e.Recipients {
		if !validRecipientStatus(r.Status) {
			return fmt.Errorf("update queue entry %d: recipient %s: unknown status %q", e.ID, r.Address, r.Status)
		}
	}
	if owner == "" {
		return fmt.Errorf("update queue entry %d: empty owner: %w", e.ID, store.ErrLeaseLost)
	}
	id := e.ID
	status := string(e.Status)
	next, attempts := dbTime(e.NextAttempt), e.Attempts
	delayNotified, lastError := boolInt(e.DelayNotified), e.LastError
	rcpts := slices.Clone(e.Recipients)

	err := s.grouped(ctx, func(tx *sql.Tx) error {
		var holder, blob string
		var n int
		err := tx.QueryRow(`SELECT lease_owner, blob_id,
			(SELECT count(*) FROM queue_recipients WHERE queue_id = queue.id)
			FROM queue WHERE id = ?`, id).Scan(&holder, &blob, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return errLeaseGone(id)
		}
		if err != nil {
			return err
		}
		if holder != owner {
			return fmt.Errorf("queue entry %d: %w", id, store.ErrLeaseLost)
		}
		if n != len(rcpts) {
			return fmt.Errorf("queue entry %d has %d recipients, update gives %d", id, n, len(rcpts))
		}
		if settled {
			// The entry goes first: its blob_id references the blob.
			if _, err := tx.Exec(`DELETE FROM queue WHERE id = ?`, id); err != nil {
				return err
			}
			return s.releaseBlob(tx, blob)
		}
		for pos, r := range rcpts {
			if _, err := tx.Exec(`UPDATE queue_recipients SET status = ?, last_error = ?, attempts = ?
				WHERE queue_id = ? AND position = ?`,
				string(r.Status), r.LastError, r.Attempts, id, pos); err != nil {
				return err
			}
		}
		_, err = tx.Exec(`UPDATE queue SET attempts = ?, next_attempt = ?,
			status = CASE WHEN status = 'held' THEN 'held' ELSE ? END,
			delay_notified = ?, last_error = ?, lease_owner = '', lease_until = 0
			WHERE id = ?`, attempts, next, status, delayNotified, lastError, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("update queue entry: %w", err)
	}
	e.LeaseOwner, e.LeaseUntil = "", time.Time{}
	if settled {
		e.Status = store.QueueDone
	}
	return nil
}

// GetQueueEntry returns entry id with its recipients, or ErrNotFound.
func (s *Store) GetQueueEntry(ctx context.Context, id int64) (*store.QueueEntry, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("get queue entry %d: %w", id, err)
	}
	defer tx.Rollback()
	e, err := scanQueueEntry(tx.QueryRowContext(ctx, `SELECT `+queueColumns+` FROM queue WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("queue entry %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get queue entry %d: %w", id, err)
	}
	entries := []store.QueueEntry{e}
	if err := queueLoadRecipients(ctx, tx, entries); err != nil {
		return nil, fmt.Errorf("get queue entry %d: %w", id, err)
	}
	return &entries[0], nil
}

// ListQueue lists the entries matching every non-empty field of f, oldest
// first, each with all its recipients. Sender, Recipient and Domain compare
// case-insensitively; Recipient matches entries with that recipient and
// Domain entries with a recipient in that domain ("example.org" or
// "@example.org").
func (s *Store) ListQueue(ctx context.Context, f store.QueueFilter) ([]store.QueueEntry, error) {
	var where []string
	var args []any
	if f.Sender != "" {
		where = append(where, "sender = ?")
		args = append(args, f.Sender)
	}
	if f.Recipient != "" {
		where = append(where, "EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = queue.id AND r.address = ?)")
		args = append(args, f.Recipient)
	}
	if f.Domain != "" {
		where = append(where, "EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = queue.id AND r.domain = ?)")
		args = append(args, strings.TrimPrefix(f.Domain, "@"))
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	q := `SELECT ` + queueColumns + ` FROM queue`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id`

	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	defer tx.Rollback()
	out, err := queryAll(ctx, tx, scanQueueEntry, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	if err := queueLoadRecipients(ctx, tx, out); err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	return out, nil
}

// SetQueueStatus holds (QueueHeld) or releases (QueueActive) entry id, and
// sets its next attempt unless nextAttempt is zero; a lease on it is left
// alone. QueueDone settles the entry: it is deleted with its blob reference,
// as DeleteQueueEntry does (see the package's queue notes).
func (s *Store) SetQueueStatus(ctx context.Context, id int64, status store.QueueStatus, nextAttempt time.Time) error {
	switch status {
	case store.QueueDone:
		if err := s.DeleteQueueEntry(ctx, id); err != nil {
			return fmt.Errorf("set queue status: %w", err)
		}
		return nil
	case store.QueueActive, store.QueueHeld:
	default:
		return fmt.Errorf("set queue entry %d status: unknown status %q", id, status)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE queue SET status = ?,
			next_attempt = CASE WHEN ? = 0 THEN next_attempt ELSE ? END WHERE id = ?`,
			string(status), dbTime(nextAttempt), dbTime(nextAttempt), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("queue entry %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set queue status: %w", err)
	}
	return nil
}

// DeleteQueueEntry deletes entry id with its recipients and releases its
// blob reference, leased or not; ErrNotFound when there is no such entry.
func (s *Store) DeleteQueueEntry(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var blob string
		err := tx.QueryRowContext(ctx, `DELETE FROM queue WHERE id = ? RETURNING blob_id`, id).Scan(&blob)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("queue entry %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return s.releaseBlob(tx, blob)
	})
	if err != nil {
		return fmt.Errorf("delete queue entry: %w", err)
	}
	return nil
}
