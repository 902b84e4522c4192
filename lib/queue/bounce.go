package queue

// This file builds the DSNs the queue sends, and bounces entries on the
// administrator's word (queuectl bounce).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gannet/lib/dsn"
	"gannet/lib/store"
)

// DefaultBounceReason is the diagnostic of a bounce without a reason of
// the administrator's.
const DefaultBounceReason = "returned to sender by the administrator"

// ErrBusy is the error of Bounce on an entry a worker kept delivering
// while Bounce waited.
var ErrBusy = errors.New("being delivered")

// Report builds the DSN (RFC 3464) about rcpts of entry e, whose message
// is raw (nil: not returned), and returns it as a queue entry: from the
// null sender (RFC 3464 section 2, so that it never causes another), to
// e's sender with NOTIFY=NEVER, From: MAILER-DAEMON@hostname. It fails
// with dsn.ErrNullSender for an entry of the null sender: a report about a
// report would loop (RFC 5321 section 4.5.5).
func Report(hostname string, e *store.QueueEntry, raw []byte, rcpts []dsn.Recipient, now time.Time) (*store.NewQueueEntry, error) {
	r := dsn.Report{
		ReportingMTA: hostname,
		To:           e.Sender,
		EnvID:        e.DSNEnvID,
		Arrival:      e.Created,
		Recipients:   rcpts,
		Original:     raw,
		Return:       e.DSNRet,
		SMTPUTF8:     e.SMTPUTF8,
	}
	msg, err := r.Build(now)
	if err != nil {
		// What a remote server or the client said (a diagnostic, an
		// ORCPT) must not cost the sender the report: try without it.
		plain := make([]dsn.Recipient, len(rcpts))
		for i, rc := range rcpts {
			rc.Original, rc.RemoteMTA, rc.Diagnostic = "", "", ""
			plain[i] = rc
		}
		r.Recipients = plain
		var err2 error
		if msg, err2 = r.Build(now); err2 != nil {
			return nil, err
		}
	}
	return &store.NewQueueEntry{
		Sender:     "",
		Recipients: []store.QueueRecipient{{Address: e.Sender, Notify: []string{"NEVER"}}},
		Raw:        msg,
		SMTPUTF8:   r.International(),
	}, nil
}

// Bouncer returns queued messages to their senders, as Postfix's
// "postsuper -f" followed by an expiry does: every pending recipient
// fails, the sender gets a DSN, and the entry leaves the queue.
type Bouncer struct {
	// Store holds the queue.
	Store interface {
		store.Queue
		store.Blobs
	}
	// Hostname names this server in the DSN.
	Hostname string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Poll is how often Bounce looks whether a worker is done with an
	// entry it is delivering; 0 means 100 ms.
	Poll time.Duration
}

func (b *Bouncer) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Bounce gives up on entry id: its pending recipients fail with status
// 5.0.0 and reason (DefaultBounceReason when ""), those whose NOTIFY
// allows it are reported to the sender in one DSN (none for the null
// sender), and the entry is deleted. It returns the ID of the DSN's entry
// (0 when none was due).
//
// The entry is held first, so that no worker takes it; when a worker is
// delivering it, Bounce waits until that attempt is saved (or its lease
// runs out) and then bounces what is still pending. If ctx ends first it
// returns an error wrapping ErrBusy and leaves the entry as it was. The
// DSN is queued before the entry is deleted: a crash in between leaves a
// held entry, and bouncing it again sends a second DSN; none is lost. An
// entry that does not exist gives an error wrapping store.ErrNotFound.
func (b *Bouncer) Bounce(ctx context.Context, id int64, reason string) (int64, error) {
	if reason == "" {
		reason = DefaultBounceReason
	}
	e, err := b.Store.GetQueueEntry(ctx, id)
	if err != nil {
		return 0, err
	}
	wasHeld := e.Status == store.QueueHeld
	if !wasHeld {
		if err := b.Store.SetQueueStatus(ctx, id, store.QueueHeld, time.Time{}); err != nil {
			return 0, err
		}
	}
	restore := func(cause error) error {
		if !wasHeld {
			// Best effort, on a context of its own: ctx may be over.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := b.Store.SetQueueStatus(rctx, id, store.QueueActive, time.Time{}); err != nil && !errors.Is(err, store.ErrNotFound) {
				return errors.Join(cause, err)
			}
		}
		return cause
	}

	// Wait for a worker that holds the entry to save its attempt.
	poll := b.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	busy := fmt.Errorf("queue entry %d: %w (try again)", id, ErrBusy)
	for {
		e, err = b.Store.GetQueueEntry(ctx, id)
		if err != nil && ctx.Err() != nil {
			return 0, restore(busy)
		}
		if err != nil {
			return 0, restore(err)
		}
		if e.LeaseOwner == "" || !e.LeaseUntil.After(b.now()) {
			break
		}
		select {
		case <-ctx.Done():
			return 0, restore(busy)
		case <-time.After(poll):
		}
	}

	now := b.now()
	var rcpts []dsn.Recipient
	for _, r := range e.Recipients {
		if r.Status != store.RcptPending || !dsn.Should(r.Notify, dsn.Failed) {
			continue
		}
		rcpts = append(rcpts, dsn.Recipient{
			Final:      r.Address,
			Original:   r.ORcpt,
			Action:     dsn.Failed,
			Status:     "5.0.0",
			Diagnostic: reason, // a local diagnostic (X-Gannet)
		})
	}
	var dsnID int64
	if e.Sender != "" && len(rcpts) > 0 {
		raw, err := b.Store.ReadBlob(ctx, e.BlobID, 0, -1)
		if err != nil {
			return 0, restore(fmt.Errorf("queue entry %d: reading the message: %w", id, err))
		}
		report, err := Report(b.Hostname, e, raw, rcpts, now)
		if err != nil {
			return 0, restore(fmt.Errorf("queue entry %d: %w", id, err))
		}
		ids, err := b.Store.Enqueue(ctx, []store.NewQueueEntry{*report})
		if err != nil {
			return 0, restore(fmt.Errorf("queue entry %d: queueing the DSN: %w", id, err))
		}
		dsnID = ids[0]
	}
	if err := b.Store.DeleteQueueEntry(ctx, id); err != nil {
		return dsnID, err
	}
	return dsnID, nil
}
