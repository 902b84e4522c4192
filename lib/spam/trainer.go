package spam

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"gannet/lib/config"
	"gannet/lib/store"
)

// The trainer applies the users' verdicts: the training events imapd
// queues when a message moves into or out of Junk, or $Junk or $NotJunk is
// set. Every process that runs it (spamd, imapd) polls the queue; the
// store hands a batch to one process at a time under a lease
// (ClaimTrainingEvents), the process trains each event's message into its
// account's database and moves the durable cursor past the batch
// (FinishTrainingEvents), which also deletes the applied events. A process
// that dies with a batch leased leaves it to the next one once the lease
// runs out; training the same message the same way twice counts once (the
// store's record of learned messages), so that replay is harmless.

// Trainer bounds.
const (
	trainBatch    = 200
	trainLease    = 5 * time.Minute
	maxTrainBytes = 16 << 20 // bytes of a message read for training
)

// RunTrainer applies training events every
// Config.Spam.Bayes.TrainInterval (20 seconds by default) until ctx ends,
// when it returns nil; on its first round and then once a day it also
// expires the tokens of every database (ExpireTokens). Failures are logged
// and the events retried on the next round, the expiry on the next day. It returns an error at once only when it cannot run (no
// store).
func RunTrainer(ctx context.Context, d Deps) error {
	if d.Store == nil {
		return errors.New("bayes trainer: no store")
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	every := 20 * time.Second
	if d.Config != nil && d.Config.Spam.Bayes.TrainInterval.Duration > 0 {
		every = d.Config.Spam.Bayes.TrainInterval.Duration
	}
	var bayesCfg config.SpamBayes
	if d.Config != nil {
		bayesCfg = d.Config.Spam.Bayes
	}
	owner := TrainerOwner()
	t := time.NewTicker(every)
	defer t.Stop()
	var expired time.Time // when this process last expired tokens
	for {
		n, err := ApplyTrainingEvents(ctx, d, owner)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("bayes trainer", "err", err)
		case n > 0:
			log.Info("bayes trainer applied training events", "events", n)
		}
		if now := time.Now(); expired.IsZero() || now.Sub(expired) >= expireEvery {
			expired = now
			n, err := ExpireTokens(ctx, d.Store, bayesCfg, -1, now)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				log.Warn("bayes trainer", "err", err)
			case n > 0:
				log.Info("bayes trainer expired tokens", "tokens", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// TrainerOwner names this process for the training-event lease.
func TrainerOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// ApplyTrainingEvents applies the training events waiting in the store,
// batch after batch, as owner; it returns how many it applied. An event
// whose message is gone from the store is dropped.
func ApplyTrainingEvents(ctx context.Context, d Deps, owner string) (int, error) {
	if d.Store == nil {
		return 0, errors.New("apply training events: no store")
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	total := 0
	for {
		evs, err := d.Store.ClaimTrainingEvents(ctx, owner, trainBatch, trainLease)
		if err != nil || len(evs) == 0 {
			return total, err
		}
		// Consecutive events of one account with one verdict are learned
		// in one transaction; the order of the events is kept, so that a
		// message moved into Junk and out again ends up ham.
		for i := 0; i < len(evs); {
			j := i + 1
			for j < len(evs) && evs[j].AccountID == evs[i].AccountID && evs[j].Spam == evs[i].Spam {
				j++
			}
			if err := applyEvents(ctx, d.Store, evs[i:j], log); err != nil {
				if ctx.Err() != nil {
					return total, ctx.Err()
				}
				// Leave the batch leased: it is retried once the lease
				// runs out, or by this process on its next round.
				return total, err
			}
			i = j
		}
		if err := d.Store.FinishTrainingEvents(ctx, owner, evs[len(evs)-1].ID); err != nil {
			return total, err
		}
		total += len(evs)
		if len(evs) < trainBatch {
			return total, nil
		}
	}
}

// applyEvents trains the messages of events of one account and one
// verdict, in one store transaction. An event whose message is gone from
// the store is dropped.
func applyEvents(ctx context.Context, st store.Store, evs []store.TrainingEvent, log *slog.Logger) error {
	items := make([]store.LearnItem, 0, len(evs))
	for _, e := range evs {
		m, err := eventMessage(ctx, st, e)
		if errors.Is(err, store.ErrNotFound) {
			log.Info("bayes trainer: message gone, event dropped", "event", e.ID, "account", e.AccountID)
			continue
		}
		if err != nil {
			return fmt.Errorf("training event %d: %w", e.ID, err)
		}
		items = append(items, NewLearnItem(m))
	}
	if len(items) == 0 {
		return nil
	}
	if _, err := LearnBatch(ctx, st, evs[0].AccountID, items, evs[0].Spam, false); err != nil {
		return fmt.Errorf("training events %d to %d: %w", evs[0].ID, evs[len(evs)-1].ID, err)
	}
	return nil
}

// eventMessage reads and parses one event's message.
func eventMessage(ctx context.Context, st store.Store, e store.TrainingEvent) (*Message, error) {
	rc, err := st.OpenBlob(ctx, e.BlobID)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxTrainBytes))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("read message %s: %w", e.BlobID, err)
	}
	m, err := NewMessage(raw, Envelope{AccountID: e.AccountID})
	if err != nil {
		return nil, fmt.Errorf("parse message %s: %w", e.BlobID, err)
	}
	return m, nil
}
