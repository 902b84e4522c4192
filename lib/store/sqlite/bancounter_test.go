package sqlite

import (
	"context"
	"testing"
	"time"

	"gannet/lib/store"
)

func TestBanCounters(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	count := func(kind store.BanKind, key, event string, at time.Time) int {
		t.Helper()
		n, err := s.CountBanEvent(ctx, kind, key, event, time.Hour, at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 1; i <= 3; i++ {
		if n := count(store.BanIP, "192.0.2.1", "auth", now.Add(time.Duration(i)*time.Minute)); n != i {
			t.Errorf("count %d = %d", i, n)
		}
	}
	// Another event, another key and another kind count apart; keys
	// compare without case.
	if n := count(store.BanIP, "192.0.2.1", "rcpt", now); n != 1 {
		t.Errorf("rcpt count = %d, want 1", n)
	}
	if n := count(store.BanLogin, "Bob@Example.org", "auth", now); n != 1 {
		t.Errorf("login count = %d, want 1", n)
	}
	if n := count(store.BanLogin, "bob@example.org", "auth", now); n != 2 {
		t.Errorf("login count (other case) = %d, want 2", n)
	}
	cs, err := s.ListBanCounters(ctx, store.BanIP, "192.0.2.1", now.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Event != "auth" || cs[0].Count != 3 || !cs[0].Start.Equal(now.Add(time.Minute)) || !cs[0].Until.Equal(now.Add(61*time.Minute)) || !cs[0].Last.Equal(now.Add(3*time.Minute)) {
		t.Errorf("ListBanCounters = %+v", cs)
	}
	all, _ := s.ListBanCounters(ctx, store.BanLogin, "", now)
	if len(all) != 1 || all[0].Count != 2 {
		t.Errorf("ListBanCounters(login, all) = %+v", all)
	}
	// Past its window a counter starts again.
	if n := count(store.BanIP, "192.0.2.1", "auth", now.Add(2*time.Hour)); n != 1 {
		t.Errorf("count after the window = %d, want 1", n)
	}
	// and the others, ended, are gone.
	if cs, _ := s.ListBanCounters(ctx, store.BanIP, "", now); len(cs) != 1 {
		t.Errorf("after the prune: %+v", cs)
	}
	if err := s.ResetBanCounters(ctx, store.BanIP, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.ListBanCounters(ctx, store.BanIP, "192.0.2.1", now); len(cs) != 0 {
		t.Errorf("after reset: %+v", cs)
	}
	for _, bad := range []struct {
		kind       store.BanKind
		key, event string
		window     time.Duration
	}{
		{"net", "x", "auth", time.Hour},
		{store.BanIP, "", "auth", time.Hour},
		{store.BanIP, "x", "", time.Hour},
		{store.BanIP, "x", "auth", 0},
	} {
		if _, err := s.CountBanEvent(ctx, bad.kind, bad.key, bad.event, bad.window, now); err == nil {
			t.Errorf("CountBanEvent(%+v) = nil error", bad)
		}
	}
}
