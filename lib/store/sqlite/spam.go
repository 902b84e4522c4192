package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gannet/lib/store"
)

// Bayes spam tokens.
//
// Rows are keyed by (account_id, token); account 0 is the global database,
// stored as account_id 0 (so the column has no foreign key: a trigger drops
// an account's tokens and totals when the account is deleted). A token is a
// uint64 hash kept as an INTEGER with the same 64 bits.

// Compile-time check that *Store is a store.SpamTokens.
var _ store.SpamTokens = (*Store)(nil)

// spamChunk bounds the tokens named in one statement.
const spamChunk = 500

// spamPlaceholders returns "?, ?, ..." with n marks.
func spamPlaceholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// spamCount converts a stored count to the interface's uint32, saturating.
func spamCount(v int64) uint32 {
	if v <= 0 {
		return 0
	}
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// TrainTokens adds spamDelta and hamDelta to the counts of each distinct
// token of one message (a token listed twice counts once) and to the
// account's message totals, in one write transaction. Negative deltas untrain;
// no count goes below 0, and a token whose counts both reach 0 is deleted.
func (s *Store) TrainTokens(ctx context.Context, accountID int64, tokens []uint64, spamDelta, hamDelta int) error {
	if accountID < 0 {
		return fmt.Errorf("train tokens: bad account %d", accountID)
	}
	if spamDelta == 0 && hamDelta == 0 {
		return nil
	}
	seen := make(map[uint64]struct{}, len(tokens))
	uniq := make([]int64, 0, len(tokens))
	for _, t := range tokens {
		if _, dup := seen[t]; !dup {
			seen[t] = struct{}{}
			uniq = append(uniq, int64(t))
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		return trainTokensTx(ctx, tx, accountID, uniq, int64(spamDelta), int64(hamDelta), bayesDay(time.Now()))
	})
	if err != nil {
		return fmt.Errorf("train tokens for account %d: %w", accountID, err)
	}
	return nil
}

// bayesDay is the day number of t kept in spam_tokens.last_seen: days since
// the Unix epoch, UTC.
func bayesDay(t time.Time) int64 {
	return t.Unix() / 86400
}

// trainTokensTx applies the deltas to the distinct tokens uniq and to the
// account's totals within tx, and bumps the account's generation. Training
// (a positive delta) marks the tokens seen on day.
func trainTokensTx(ctx context.Context, tx *sql.Tx, accountID int64, uniq []int64, sd, hd, day int64) error {
	if err := addTokensTx(ctx, tx, accountID, uniq, sd, hd, day); err != nil {
		return err
	}
	return addTotalsTx(ctx, tx, accountID, sd, hd)
}

// addTotalsTx adds the deltas to the account's message totals and bumps
// its generation.
func addTotalsTx(ctx context.Context, tx *sql.Tx, accountID int64, sd, hd int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO spam_totals (account_id, spam, ham, generation) VALUES (?, ?, ?, 1)
		ON CONFLICT (account_id) DO UPDATE SET spam = max(0, spam + ?), ham = max(0, ham + ?),
		generation = generation + 1`,
		accountID, max(sd, 0), max(hd, 0), sd, hd)
	return err
}

// addTokensTx applies the deltas to the counts of the distinct tokens uniq
// within tx: no count goes below 0, a token whose counts both reach 0 is
// deleted, and a positive delta marks the tokens seen on day.
func addTokensTx(ctx context.Context, tx *sql.Tx, accountID int64, uniq []int64, sd, hd, day int64) error {
	grow := sd > 0 || hd > 0   // new tokens get rows
	shrink := sd < 0 || hd < 0 // counts may reach zero
	for start := 0; start < len(uniq); start += spamChunk {
		chunk := uniq[start:min(start+spamChunk, len(uniq))]
		args := make([]any, 0, 5*len(chunk)+3)
		var q string
		if grow {
			var b strings.Builder
			b.WriteString(`INSERT INTO spam_tokens (account_id, token, spam, ham, last_seen) VALUES `)
			for i, t := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?, ?, ?)")
				args = append(args, accountID, t, max(sd, 0), max(hd, 0), day)
			}
			b.WriteString(` ON CONFLICT (account_id, token) DO UPDATE SET
				spam = max(0, spam + ?), ham = max(0, ham + ?), last_seen = max(last_seen, ?)`)
			args = append(args, sd, hd, day)
			q = b.String()
		} else {
			q = `UPDATE spam_tokens SET spam = max(0, spam + ?), ham = max(0, ham + ?)
				WHERE account_id = ? AND token IN (` + spamPlaceholders(len(chunk)) + `)`
			args = append(args, sd, hd, accountID)
			for _, t := range chunk {
				args = append(args, t)
			}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		if shrink {
			args = args[:0]
			args = append(args, accountID)
			for _, t := range chunk {
				args = append(args, t)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM spam_tokens WHERE account_id = ?
				AND token IN (`+spamPlaceholders(len(chunk))+`) AND spam = 0 AND ham = 0`, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// TokenCounts returns the counts of those of tokens that are known, reading
// them in statements of up to 500 tokens within one read transaction.
func (s *Store) TokenCounts(ctx context.Context, accountID int64, tokens []uint64) (map[uint64]store.TokenCount, error) {
	out := make(map[uint64]store.TokenCount)
	if len(tokens) == 0 {
		return out, nil
	}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("token counts: %w", err)
	}
	defer tx.Rollback()
	args := make([]any, 0, spamChunk+1)
	for start := 0; start < len(tokens); start += spamChunk {
		chunk := tokens[start:min(start+spamChunk, len(tokens))]
		args = append(args[:0], accountID)
		for _, t := range chunk {
			args = append(args, int64(t))
		}
		rows, err := tx.QueryContext(ctx, `SELECT token, spam, ham FROM spam_tokens
			WHERE account_id = ? AND token IN (`+spamPlaceholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("token counts: %w", err)
		}
		for rows.Next() {
			var tok, spam, ham int64
			if err := rows.Scan(&tok, &spam, &ham); err != nil {
				rows.Close()
				return nil, fmt.Errorf("token counts: %w", err)
			}
			out[uint64(tok)] = store.TokenCount{Spam: spamCount(spam), Ham: spamCount(ham)}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("token counts: %w", err)
		}
	}
	return out, nil
}

// BayesTotals returns how many spam and ham messages the account's (0:
// global) database was trained on; zero when never trained.
func (s *Store) BayesTotals(ctx context.Context, accountID int64) (store.BayesTotals, error) {
	var spam, ham int64
	err := s.reads.QueryRowContext(ctx, `SELECT spam, ham FROM spam_totals WHERE account_id = ?`, accountID).Scan(&spam, &ham)
	if errors.Is(err, sql.ErrNoRows) {
		return store.BayesTotals{}, nil
	}
	if err != nil {
		return store.BayesTotals{}, fmt.Errorf("bayes totals for account %d: %w", accountID, err)
	}
	return store.BayesTotals{Spam: spamCount(spam), Ham: spamCount(ham)}, nil
}
