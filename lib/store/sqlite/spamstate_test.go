package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"gannet/lib/store"
)

func TestSpamState(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	t0 := time.Now()

	// Greylisting: refused, refused before the delay, passes after it and
	// on later messages, forgotten after expire.
	steps := []struct {
		at   time.Duration
		pass bool
	}{{0, false}, {time.Minute, false}, {6 * time.Minute, true}, {time.Hour, true}, {40 * 24 * time.Hour, false}}
	for _, st := range steps {
		pass, err := s.Greylist(ctx, "k1", t0.Add(st.at), 5*time.Minute, 35*24*time.Hour)
		if err != nil || pass != st.pass {
			t.Errorf("Greylist at +%v: %v, %v; want %v", st.at, pass, err, st.pass)
		}
	}

	if err := s.AddReputation(ctx, []store.ReputationDelta{{Key: "ip:192.0.2.1", Spam: 2}, {Key: "domain:example.org", Ham: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddReputation(ctx, []store.ReputationDelta{{Key: "ip:192.0.2.1", Spam: 1, Ham: 1}}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Reputation(ctx, []string{"ip:192.0.2.1", "domain:example.org", "addr:nobody@example.org"})
	if err != nil || len(rep) != 2 || rep["ip:192.0.2.1"] != (store.ReputationCount{Spam: 3, Ham: 1}) || rep["domain:example.org"] != (store.ReputationCount{Ham: 1}) {
		t.Errorf("Reputation: %v, %v", rep, err)
	}

	acct := sqlAccount(t, s, "sender@example.org")
	if err := s.AddSentMessageIDs(ctx, acct, []string{"a1@example.org"}, t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		acct int64
		ids  []string
		want bool
	}{{acct, []string{"x@y", "a1@example.org"}, true}, {0, []string{"a1@example.org"}, true}, {acct + 1, []string{"a1@example.org"}, false}, {acct, []string{"x@y"}, false}} {
		got, err := s.SentMessageID(ctx, c.acct, c.ids)
		if err != nil || got != c.want {
			t.Errorf("SentMessageID(%d, %q) = %v, %v; want %v", c.acct, c.ids, got, err, c.want)
		}
	}

	if _, err := s.SpamThresholds(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("thresholds of a new account: %v", err)
	}
	if err := s.SetSpamThresholds(ctx, acct, &store.SpamThreshold{Spam: 3.5, Reject: 10}); err != nil {
		t.Fatal(err)
	}
	if th, err := s.SpamThresholds(ctx, acct); err != nil || *th != (store.SpamThreshold{Spam: 3.5, Reject: 10}) {
		t.Errorf("thresholds: %v, %v", th, err)
	}
	if err := s.SetSpamThresholds(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SpamThresholds(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("thresholds after reset: %v", err)
	}

	// Sieve tracking: seen within the period, and not after it.
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{0, false}, {time.Hour, true}, {23 * time.Hour, true}, {25 * time.Hour, false}, {30 * time.Hour, true}} {
		if got, err := s.SieveSeen(ctx, acct, "vacation:a@b", t0.Add(c.at), 24*time.Hour); err != nil || got != c.want {
			t.Errorf("SieveSeen at +%v: %v, %v; want %v", c.at, got, err, c.want)
		}
	}

	if err := s.PruneSpamState(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rep, _ := s.Reputation(ctx, []string{"ip:192.0.2.1"}); len(rep) != 0 {
		t.Errorf("reputation after pruning: %v", rep)
	}
	if ok, _ := s.SentMessageID(ctx, 0, []string{"a1@example.org"}); ok {
		t.Error("sent id kept after pruning")
	}
}
