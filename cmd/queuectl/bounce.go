package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/notify"
	"gannet/lib/queue"
	"gannet/lib/store"
)

// bounce returns the named messages (or --all) to their senders with a
// DSN, as "postsuper -f" and an expiry do, continuing past IDs not in the
// queue (status 1 at the end), and says how many it bounced.
func bounce(s *session) error {
	c := s.c
	b := &queue.Bouncer{Store: s.st, Hostname: s.env.Config.Server.Hostname}
	reason := c.String("reason")
	n := 0
	one := func(text string, id int64) (bool, error) {
		var dsnID int64
		// A worker delivering the entry may keep it a while: wait for
		// it longer than for a busy store.
		err := s.callFor(s.wait+bounceWait, func(ctx context.Context) error {
			var err error
			dsnID, err = b.Bounce(ctx, id, reason)
			return err
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			fmt.Fprintln(c.App.ErrWriter, notFound(text))
			return false, nil
		case errors.Is(err, queue.ErrBusy):
			return false, cli.Exit("queuectl: "+err.Error(), exitTempFail)
		case err != nil:
			return false, err
		}
		n++
		if dsnID != 0 {
			fmt.Fprintf(c.App.ErrWriter, "queuectl: %d: returned to sender as %d\n", id, dsnID)
		}
		return true, nil
	}
	defer func() {
		if n > 0 {
			announce(s)
			fmt.Fprintf(c.App.ErrWriter, "queuectl: Bounced: %d message%s\n", n, plural(n))
		}
	}()

	if c.Bool("all") {
		var entries []store.QueueEntry
		err := s.call(func(ctx context.Context) error {
			var err error
			entries, err = s.admin.List(ctx, queue.ListFilter{})
			return err
		})
		if err != nil {
			return err
		}
		for _, e := range entries {
			if _, err := one(fmt.Sprint(e.ID), e.ID); err != nil {
				return err
			}
		}
		return nil
	}
	missed := 0
	err := queue.EachID(c.Args().Slice(), c.App.Reader, func(text string, id int64, err error) error {
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "queuectl: %v\n", err)
			missed++
			return nil
		}
		ok, err := one(text, id)
		if err == nil && !ok {
			missed++
		}
		return err
	})
	if err != nil {
		return err
	}
	if missed > 0 {
		return cli.Exit("", exitFailure)
	}
	return nil
}

// bounceWait is how long bounce waits for a worker delivering an entry
// to finish with it.
const bounceWait = 30 * time.Second

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// callFor runs fn with a context that ends after d.
func (s *session) callFor(d time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(s.c.Context, d)
	defer cancel()
	return fn(ctx)
}

// announced runs fn and then tells queued, over the change feed, that the
// queue changed, so that entries retried or released are worked at once.
func announced(fn func(s *session) error) func(s *session) error {
	return func(s *session) error {
		err := fn(s)
		announce(s)
		return err
	}
}

// announce publishes a queue event (best effort: without the feed,
// queued sees the change at its next poll, within a second).
func announce(s *session) {
	pub, err := notify.NewPublisher(s.env.Config.NotifyDir())
	if err != nil {
		return
	}
	pub.Publish(notify.Event{AccountID: notify.QueueAccountID})
	pub.Close()
}
