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

// Compile-time check that *Store is a store.SpamTokenUpkeep.
var _ store.SpamTokenUpkeep = (*Store)(nil)

// maxLearnBatch bounds the messages of one LearnMessages call.
const maxLearnBatch = 1000

// LearnMessage trains or untrains one message in one write transaction
// together with its spam_seen row, so that two processes learning the same
// message count it once.
func (s *Store) LearnMessage(ctx context.Context, accountID int64, msgHash uint64, tokens []uint64, spam, forget bool) (store.LearnResult, error) {
	if accountID < 0 {
		return 0, fmt.Errorf("learn message: bad account %d", accountID)
	}
	uniq := uniqueTokens(tokens)
	day := bayesDay(time.Now())
	var res store.LearnResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = learnMessageTx(ctx, tx, accountID, msgHash, uniq, spam, forget, day)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("learn message for account %d: %w", accountID, err)
	}
	return res, nil
}

// LearnMessages learns msgs in order in one write transaction; the results
// are those LearnMessage would give one message after the other. The
// messages' token deltas are summed, so each distinct token of the batch
// is written once, and the totals and generation once. It takes at most
// 1000 messages.
func (s *Store) LearnMessages(ctx context.Context, accountID int64, msgs []store.LearnItem, spam, forget bool) ([]store.LearnResult, error) {
	if accountID < 0 {
		return nil, fmt.Errorf("learn messages: bad account %d", accountID)
	}
	if len(msgs) > maxLearnBatch {
		return nil, fmt.Errorf("learn messages: %d messages, more than %d", len(msgs), maxLearnBatch)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	uniq := make([][]int64, len(msgs))
	for i, m := range msgs {
		uniq[i] = uniqueTokens(m.Tokens)
	}
	day := bayesDay(time.Now())
	out := make([]store.LearnResult, len(msgs))
	err := s.write(ctx, func(tx *sql.Tx) error {
		// seen is spam_seen as the messages so far left it.
		type seenState struct{ known, spam bool }
		seen := make(map[uint64]seenState, len(msgs))
		dirty := make(map[uint64]bool)
		deltas := make(map[int64][2]int64)
		var tsd, thd int64
		changed := false
		for i, m := range msgs {
			st, ok := seen[m.Hash]
			if !ok {
				known, wasSpam, err := lookupSeen(ctx, tx, accountID, m.Hash)
				if err != nil {
					return err
				}
				st = seenState{known, wasSpam}
			}
			p := planLearn(st.known, st.spam, spam, forget)
			out[i] = p.res
			if p.sd != 0 || p.hd != 0 {
				changed = true
				tsd, thd = tsd+p.sd, thd+p.hd
				for _, t := range uniq[i] {
					d := deltas[t]
					deltas[t] = [2]int64{d[0] + p.sd, d[1] + p.hd}
				}
			}
			switch p.seen {
			case seenSet:
				st, dirty[m.Hash] = seenState{true, spam}, true
			case seenDelete:
				st, dirty[m.Hash] = seenState{}, true
			}
			seen[m.Hash] = st
		}
		// Tokens with the same deltas are written together.
		groups := make(map[[2]int64][]int64)
		for t, d := range deltas {
			if d != [2]int64{} {
				groups[d] = append(groups[d], t)
			}
		}
		for d, toks := range groups {
			if err := addTokensTx(ctx, tx, accountID, toks, d[0], d[1], day); err != nil {
				return err
			}
		}
		if changed {
			if err := addTotalsTx(ctx, tx, accountID, tsd, thd); err != nil {
				return err
			}
		}
		for h := range dirty {
			if err := storeSeen(ctx, tx, accountID, h, seen[h].known, spam); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("learn %d messages for account %d: %w", len(msgs), accountID, err)
	}
	return out, nil
}

// uniqueTokens returns the distinct tokens, in first-seen order, as stored.
func uniqueTokens(tokens []uint64) []int64 {
	seen := make(map[uint64]struct{}, len(tokens))
	uniq := make([]int64, 0, len(tokens))
	for _, t := range tokens {
		if _, dup := seen[t]; !dup {
			seen[t] = struct{}{}
			uniq = append(uniq, int64(t))
		}
	}
	return uniq
}

// What learning a message does to its spam_seen row.
const (
	seenKeep   = iota // nothing
	seenSet           // it records the message as learned the new way
	seenDelete        // it goes
)

// learnPlan is what learning one message does.
type learnPlan struct {
	res    store.LearnResult
	sd, hd int64 // deltas to the message's tokens and to the totals
	seen   int   // seenKeep, seenSet or seenDelete
}

// planLearn decides what learning a message as spam (or ham; forget:
// unlearning it) does, given whether it was learned (known) and as what.
func planLearn(known, wasSpam, spam, forget bool) learnPlan {
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
		return learnPlan{res: store.NotLearned}
	case forget:
		sd, hd := delta(wasSpam, -1)
		return learnPlan{res: store.Forgotten, sd: sd, hd: hd, seen: seenDelete}
	case known && wasSpam == spam:
		return learnPlan{res: store.AlreadyLearned}
	case known:
		// One pass moves each token from one column to the other; the
		// mixed deltas change the totals by +1/-1, which is what moving
		// one message means.
		sd, hd := delta(wasSpam, -1)
		sd2, hd2 := delta(spam, 1)
		return learnPlan{res: store.Relearned, sd: sd + sd2, hd: hd + hd2, seen: seenSet}
	default:
		sd, hd := delta(spam, 1)
		return learnPlan{res: store.Learned, sd: sd, hd: hd, seen: seenSet}
	}
}

// lookupSeen reports whether the message was learned, and as what.
func lookupSeen(ctx context.Context, tx *sql.Tx, accountID int64, msgHash uint64) (known, spam bool, err error) {
	var was int64
	err = tx.QueryRowContext(ctx, `SELECT spam FROM spam_seen WHERE account_id = ? AND hash = ?`,
		accountID, int64(msgHash)).Scan(&was)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, was == 1, nil
}

// storeSeen records the message as learned as spam (or ham), or when not
// known deletes its record.
func storeSeen(ctx context.Context, tx *sql.Tx, accountID int64, msgHash uint64, known, spam bool) error {
	if !known {
		_, err := tx.ExecContext(ctx, `DELETE FROM spam_seen WHERE account_id = ? AND hash = ?`, accountID, int64(msgHash))
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO spam_seen (account_id, hash, spam) VALUES (?, ?, ?)
		ON CONFLICT (account_id, hash) DO UPDATE SET spam = excluded.spam`,
		accountID, int64(msgHash), boolInt(spam))
	return err
}

// learnMessageTx learns one message (its distinct tokens uniq) within tx.
func learnMessageTx(ctx context.Context, tx *sql.Tx, accountID int64, msgHash uint64, uniq []int64, spam, forget bool, day int64) (store.LearnResult, error) {
	known, wasSpam, err := lookupSeen(ctx, tx, accountID, msgHash)
	if err != nil {
		return 0, err
	}
	p := planLearn(known, wasSpam, spam, forget)
	if p.sd != 0 || p.hd != 0 {
		if err := trainTokensTx(ctx, tx, accountID, uniq, p.sd, p.hd, day); err != nil {
			return 0, err
		}
	}
	switch p.seen {
	case seenSet:
		err = storeSeen(ctx, tx, accountID, msgHash, true, spam)
	case seenDelete:
		err = storeSeen(ctx, tx, accountID, msgHash, false, spam)
	}
	return p.res, err
}

// ExpireTokens removes the account's (accountID < 0: every account's)
// tokens seen in fewer than two messages and not trained since the day of
// before, then, when keep > 0 and more than keep tokens remain, the least
// recently trained ones beyond keep (of those, the rarest first). Each
// database is expired in its own write transaction, whose generation it
// bumps when it removed tokens.
func (s *Store) ExpireTokens(ctx context.Context, accountID int64, before time.Time, keep int) (int, error) {
	accounts := []int64{accountID}
	if accountID < 0 {
		accounts = accounts[:0]
		rows, err := s.rdb.QueryContext(ctx, `SELECT account_id FROM spam_totals ORDER BY account_id`)
		if err != nil {
			return 0, fmt.Errorf("expire tokens: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, fmt.Errorf("expire tokens: %w", err)
			}
			accounts = append(accounts, id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, fmt.Errorf("expire tokens: %w", err)
		}
	}
	day := bayesDay(before)
	total := 0
	for _, id := range accounts {
		var removed int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			removed = 0
			r, err := tx.ExecContext(ctx, `DELETE FROM spam_tokens
				WHERE account_id = ? AND spam + ham < 2 AND last_seen < ?`, id, day)
			if err != nil {
				return err
			}
			removed, _ = r.RowsAffected()
			if keep > 0 {
				var n int64
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM spam_tokens WHERE account_id = ?`, id).Scan(&n); err != nil {
					return err
				}
				if over := n - int64(keep); over > 0 {
					r, err := tx.ExecContext(ctx, `DELETE FROM spam_tokens WHERE account_id = ? AND token IN
						(SELECT token FROM spam_tokens WHERE account_id = ?
						 ORDER BY last_seen, spam + ham, token LIMIT ?)`, id, id, over)
					if err != nil {
						return err
					}
					more, _ := r.RowsAffected()
					removed += more
				}
			}
			if removed == 0 {
				return nil
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO spam_totals (account_id, generation) VALUES (?, 1)
				ON CONFLICT (account_id) DO UPDATE SET generation = generation + 1`, id)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("expire tokens of account %d: %w", id, err)
		}
		total += int(removed)
	}
	return total, nil
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
