package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gannet/lib/store"
)

// Bayes bookkeeping: the record of learned messages (spam_seen), the token
// scan the classifier's cache loads from, and the training-event cursor
// (schema 010).

// LearnMessage trains or untrains one message in one write transaction
// together with its spam_seen row, so that two processes learning the same
// message count it once.
func (s *Store) LearnMessage(ctx context.Context, accountID int64, msgHash uint64, tokens []uint64, spam, forget bool) (store.LearnResult, error) {
	if accountID < 0 {
		return 0, fmt.Errorf("learn message: bad account %d", accountID)
	}
	seen := make(map[uint64]struct{}, len(tokens))
	uniq := make([]int64, 0, len(tokens))
	for _, t := range tokens {
		if _, dup := seen[t]; !dup {
			seen[t] = struct{}{}
			uniq = append(uniq, int64(t))
		}
	}
	var res store.LearnResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		var was int64
		err := tx.QueryRowContext(ctx, `SELECT spam FROM spam_seen WHERE account_id = ? AND hash = ?`,
			accountID, int64(msgHash)).Scan(&was)
		known := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		wasSpam := was == 1
		// delta returns the (spam, ham) deltas of learning as spam (sign 1)
		// or unlearning (sign -1).
		delta := func(isSpam bool, sign int64) (int64, int64) {
			if isSpam {
				return sign, 0
			}
			return 0, sign
		}
		switch {
		case forget && !known:
			res = store.NotLearned
			return nil
		case forget:
			res = store.Forgotten
			sd, hd := delta(wasSpam, -1)
			if err := trainTokensTx(ctx, tx, accountID, uniq, sd, hd); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM spam_seen WHERE account_id = ? AND hash = ?`, accountID, int64(msgHash))
			return err
		case known && wasSpam == spam:
			res = store.AlreadyLearned
			return nil
		case known:
			res = store.Relearned
			sd, hd := delta(wasSpam, -1)
			sd2, hd2 := delta(spam, 1)
			// One pass moves each token from one column to the other.
			if err := trainTokensTx(ctx, tx, accountID, uniq, sd+sd2, hd+hd2); err != nil {
				return err
			}
			// The totals moved too; the mixed deltas above changed them
			// by +1/-1, which is what moving one message means.
		default:
			res = store.Learned
			sd, hd := delta(spam, 1)
			if err := trainTokensTx(ctx, tx, accountID, uniq, sd, hd); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO spam_seen (account_id, hash, spam) VALUES (?, ?, ?)
			ON CONFLICT (account_id, hash) DO UPDATE SET spam = excluded.spam`,
			accountID, int64(msgHash), boolInt(spam))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("learn message for account %d: %w", accountID, err)
	}
	return res, nil
}

// BayesGeneration returns the totals and generation of the account's
// database; zero when never trained.
func (s *Store) BayesGeneration(ctx context.Context, accountID int64) (store.BayesTotals, int64, error) {
	var spam, ham, gen int64
	err := s.rdb.QueryRowContext(ctx, `SELECT spam, ham, generation FROM spam_totals WHERE account_id = ?`,
		accountID).Scan(&spam, &ham, &gen)
	if errors.Is(err, sql.ErrNoRows) {
		return store.BayesTotals{}, 0, nil
	}
	if err != nil {
		return store.BayesTotals{}, 0, fmt.Errorf("bayes generation of account %d: %w", accountID, err)
	}
	return store.BayesTotals{Spam: spamCount(spam), Ham: spamCount(ham)}, gen, nil
}

// ScanTokens reads the account's tokens with spam+ham >= minTotal.
func (s *Store) ScanTokens(ctx context.Context, accountID int64, minTotal int, fn func(token uint64, c store.TokenCount) error) error {
	rows, err := s.rdb.QueryContext(ctx, `SELECT token, spam, ham FROM spam_tokens
		WHERE account_id = ? AND spam + ham >= ?`, accountID, minTotal)
	if err != nil {
		return fmt.Errorf("scan tokens of account %d: %w", accountID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var tok, spam, ham int64
		if err := rows.Scan(&tok, &spam, &ham); err != nil {
			return fmt.Errorf("scan tokens of account %d: %w", accountID, err)
		}
		if err := fn(uint64(tok), store.TokenCount{Spam: spamCount(spam), Ham: spamCount(ham)}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan tokens of account %d: %w", accountID, err)
	}
	return nil
}

// ClaimTrainingEvents leases the events past the cursor to owner.
func (s *Store) ClaimTrainingEvents(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.TrainingEvent, error) {
	if owner == "" {
		return nil, errors.New("claim training events: empty owner")
	}
	if limit <= 0 || limit > maxTrainingList {
		limit = maxTrainingList
	}
	var out []store.TrainingEvent
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		var last, until int64
		var holder string
		if err := tx.QueryRowContext(ctx, `SELECT last_id, owner, lease_until FROM spam_training_cursor WHERE id = 1`).
			Scan(&last, &holder, &until); err != nil {
			return err
		}
		now := time.Now()
		if holder != "" && holder != owner && until > now.UnixMilli() {
			return nil // another process is at work
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, account_id, message_id, blob_id, spam, source, created
			FROM spam_training WHERE id > ? ORDER BY id LIMIT ?`, last, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e store.TrainingEvent
			var created int64
			if err := rows.Scan(&e.ID, &e.AccountID, &e.MessageID, &e.BlobID, &e.Spam, &e.Source, &created); err != nil {
				rows.Close()
				return err
			}
			e.Time = goTime(created)
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE spam_training_cursor SET owner = ?, lease_until = ? WHERE id = 1`,
			owner, now.Add(lease).UnixMilli())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim training events: %w", err)
	}
	return out, nil
}

// ErrLeaseLost is returned by FinishTrainingEvents when another owner took
// the events over after the lease ran out.
var ErrLeaseLost = errors.New("training events lease lost to another process")

// FinishTrainingEvents advances the cursor past through and deletes the
// applied events.
func (s *Store) FinishTrainingEvents(ctx context.Context, owner string, through int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var holder string
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT last_id, owner FROM spam_training_cursor WHERE id = 1`).
			Scan(&last, &holder); err != nil {
			return err
		}
		if holder != owner {
			return ErrLeaseLost
		}
		if _, err := tx.ExecContext(ctx, `UPDATE spam_training_cursor
			SET last_id = max(last_id, ?), owner = '', lease_until = 0 WHERE id = 1`, through); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM spam_training WHERE id <= ?`, through)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish training events through %d: %w", through, err)
	}
	return nil
}
