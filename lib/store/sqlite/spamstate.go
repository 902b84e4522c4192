package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gannet/lib/store"
)

// Compile-time check that *Store is a store.SpamState.
var _ store.SpamState = (*Store)(nil)

// maxStateKeys bounds the keys of one Reputation or SentMessageID call.
const maxStateKeys = 100

// Greylist implements store.SpamState.
func (s *Store) Greylist(ctx context.Context, key string, now time.Time, delay, expire time.Duration) (bool, error) {
	var pass bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var first, last int64
		var passed bool
		err := tx.QueryRowContext(ctx, "SELECT first, last, passed FROM greylist WHERE key = ?", key).Scan(&first, &last, &passed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, "INSERT INTO greylist (key, first, last) VALUES (?, ?, ?)", key, dbTime(now), dbTime(now))
			return err
		case err != nil:
			return err
		}
		switch {
		case goTime(last).Before(now.Add(-expire)):
			// Forgotten: start again.
			_, err = tx.ExecContext(ctx, "UPDATE greylist SET first = ?, last = ?, passed = 0 WHERE key = ?", dbTime(now), dbTime(now), key)
			return err
		case passed || !goTime(first).After(now.Add(-delay)):
			pass = true
		}
		_, err = tx.ExecContext(ctx, "UPDATE greylist SET last = ?, passed = ? WHERE key = ?", dbTime(now), boolInt(pass), key)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("greylist: %w", err)
	}
	return pass, nil
}

// AddReputation implements store.SpamState.
func (s *Store) AddReputation(ctx context.Context, deltas []store.ReputationDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	now := dbTime(time.Now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, d := range deltas {
			_, err := tx.ExecContext(ctx, `INSERT INTO reputation (key, spam, ham, updated) VALUES (?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET spam = spam + excluded.spam, ham = ham + excluded.ham, updated = excluded.updated`,
				d.Key, d.Spam, d.Ham, now)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reputation: %w", err)
	}
	return nil
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Reputation implements store.SpamState.
func (s *Store) Reputation(ctx context.Context, keys []string) (map[string]store.ReputationCount, error) {
	out := map[string]store.ReputationCount{}
	if len(keys) == 0 {
		return out, nil
	}
	if len(keys) > maxStateKeys {
		keys = keys[:maxStateKeys]
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.reads.QueryContext(ctx, "SELECT key, spam, ham FROM reputation WHERE key IN ("+placeholders(len(keys))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var c store.ReputationCount
		if err := rows.Scan(&k, &c.Spam, &c.Ham); err != nil {
			return nil, fmt.Errorf("reputation: %w", err)
		}
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	return out, nil
}

// AddSentMessageIDs implements store.SpamState.
func (s *Store) AddSentMessageIDs(ctx context.Context, accountID int64, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			_, err := tx.ExecContext(ctx, `INSERT INTO sent_message_ids (msgid, account_id, time) VALUES (?, ?, ?)
				ON CONFLICT (msgid, account_id) DO UPDATE SET time = excluded.time`, id, accountID, dbTime(now))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sent message ids of account %d: %w", accountID, err)
	}
	return nil
}

// SentMessageID implements store.SpamState.
func (s *Store) SentMessageID(ctx context.Context, accountID int64, ids []string) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	if len(ids) > maxStateKeys {
		ids = ids[len(ids)-maxStateKeys:] // the newest references
	}
	args := make([]any, 0, len(ids)+1)
	for _, id := range ids {
		args = append(args, id)
	}
	q := "SELECT 1 FROM sent_message_ids WHERE msgid IN (" + placeholders(len(ids)) + ")"
	if accountID != 0 {
		q += " AND account_id = ?"
		args = append(args, accountID)
	}
	var one int
	err := s.reads.QueryRowContext(ctx, q+" LIMIT 1", args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sent message ids: %w", err)
	}
	return true, nil
}

// PruneSpamState implements store.SpamState.
func (s *Store) PruneSpamState(ctx context.Context, before time.Time) error {
	t := dbTime(before)
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			"DELETE FROM greylist WHERE last < ?",
			"DELETE FROM reputation WHERE updated < ?",
			"DELETE FROM sent_message_ids WHERE time < ?",
		} {
			if _, err := tx.ExecContext(ctx, q, t); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM sieve_seen WHERE until < ?", dbTime(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("pruning spam state: %w", err)
	}
	return nil
}

// SpamThresholds implements store.SpamState.
func (s *Store) SpamThresholds(ctx context.Context, accountID int64) (*store.SpamThreshold, error) {
	var t store.SpamThreshold
	err := s.reads.QueryRowContext(ctx, "SELECT spam, reject FROM spam_thresholds WHERE account_id = ?", accountID).Scan(&t.Spam, &t.Reject)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("spam thresholds of account %d: %w", accountID, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("spam thresholds of account %d: %w", accountID, err)
	}
	return &t, nil
}

// SetSpamThresholds implements store.SpamState.
func (s *Store) SetSpamThresholds(ctx context.Context, accountID int64, t *store.SpamThreshold) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if t == nil {
			_, err := tx.ExecContext(ctx, "DELETE FROM spam_thresholds WHERE account_id = ?", accountID)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO spam_thresholds (account_id, spam, reject) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET spam = excluded.spam, reject = excluded.reject`, accountID, t.Spam, t.Reject)
		return constraintError(err)
	})
	if err != nil {
		return fmt.Errorf("spam thresholds of account %d: %w", accountID, err)
	}
	return nil
}

// SieveSeen implements store.SieveTracker. A key seen within its period
// keeps its period (RFC 7352 section 3: it counts from the first message);
// one not seen starts a new one.
func (s *Store) SieveSeen(ctx context.Context, accountID int64, key string, now time.Time, period time.Duration) (bool, error) {
	var seen bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var until int64
		err := tx.QueryRowContext(ctx, "SELECT until FROM sieve_seen WHERE account_id = ? AND key = ?", accountID, key).Scan(&until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			seen = goTime(until).After(now)
		}
		if seen {
			return nil // the period runs from the first sighting
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sieve_seen (account_id, key, until) VALUES (?, ?, ?)
			ON CONFLICT (account_id, key) DO UPDATE SET until = excluded.until`, accountID, key, dbTime(now.Add(period)))
		return constraintError(err)
	})
	if err != nil {
		return false, fmt.Errorf("sieve tracking of account %d: %w", accountID, err)
	}
	return seen, nil
}
