package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gannet/lib/store"
)

// Compile-time check that *Store is a store.SpamTraining.
var _ store.SpamTraining = (*Store)(nil)

// maxTrainingList bounds the events ListTrainingEvents returns at once.
const maxTrainingList = 10000

// AddTrainingEvents records events in the spam_training table, in one
// write transaction, and sets their IDs (and Time when zero).
func (s *Store) AddTrainingEvents(ctx context.Context, events []store.TrainingEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := time.Now()
	ids := make([]int64, len(events))
	err := s.write(ctx, func(tx *sql.Tx) error {
		for i, e := range events {
			t := e.Time
			if t.IsZero() {
				t = now
			}
			err := tx.QueryRowContext(ctx, `INSERT INTO spam_training
				(account_id, message_id, blob_id, spam, source, created)
				VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
				e.AccountID, e.MessageID, e.BlobID, boolInt(e.Spam), e.Source, dbTime(t)).Scan(&ids[i])
			if err != nil {
				return constraintError(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add %d training events: %w", len(events), err)
	}
	for i := range events {
		events[i].ID = ids[i]
		if events[i].Time.IsZero() {
			events[i].Time = goTime(dbTime(now))
		}
	}
	return nil
}

// ListTrainingEvents returns up to limit (at most 10,000) events with an
// ID above after, oldest first.
func (s *Store) ListTrainingEvents(ctx context.Context, after int64, limit int) ([]store.TrainingEvent, error) {
	if limit <= 0 || limit > maxTrainingList {
		limit = maxTrainingList
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, account_id, message_id, blob_id, spam, source, created
		FROM spam_training WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list training events: %w", err)
	}
	defer rows.Close()
	var out []store.TrainingEvent
	for rows.Next() {
		var e store.TrainingEvent
		var created int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.MessageID, &e.BlobID, &e.Spam, &e.Source, &created); err != nil {
			return nil, fmt.Errorf("list training events: %w", err)
		}
		e.Time = goTime(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list training events: %w", err)
	}
	return out, nil
}
