package sqlite

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gannet/lib/store"
)

func banKeys(bs []store.Ban) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b.Kind)+" "+b.Key)
	}
	return out
}

func TestBans(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Now()
	puts := []store.Ban{
		{Kind: store.BanIP, Key: "192.0.2.1", Reason: "auth failures", Expires: now.Add(time.Hour)},
		{Kind: store.BanIP, Key: "2001:db8::/32", Reason: "spam run"},
		{Kind: store.BanLogin, Key: "Admin@example.org", Reason: "guessing", Expires: now.Add(10 * time.Minute)},
		{Kind: store.BanIP, Key: "198.51.100.7", Allow: true},
	}
	for i := range puts {
		if err := s.PutBan(ctx, &puts[i]); err != nil {
			t.Fatal(err)
		}
		if puts[i].Created.IsZero() {
			t.Errorf("PutBan left Created zero")
		}
	}
	got, err := s.ListBans(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ip 192.0.2.1", "ip 198.51.100.7", "ip 2001:db8::/32", "login Admin@example.org"}
	if !slices.Equal(banKeys(got), want) {
		t.Errorf("ListBans(now) = %v, want %v", banKeys(got), want)
	}
	// Twenty minutes on, the login ban has run out; in two hours the first too.
	got, _ = s.ListBans(ctx, now.Add(20*time.Minute))
	if w := []string{"ip 192.0.2.1", "ip 198.51.100.7", "ip 2001:db8::/32"}; !slices.Equal(banKeys(got), w) {
		t.Errorf("ListBans(+20m) = %v, want %v", banKeys(got), w)
	}
	got, _ = s.ListBans(ctx, now.Add(2*time.Hour))
	if w := []string{"ip 198.51.100.7", "ip 2001:db8::/32"}; !slices.Equal(banKeys(got), w) {
		t.Errorf("ListBans(+2h) = %v, want %v", banKeys(got), w)
	}

	b, err := s.GetBan(ctx, store.BanLogin, "admin@EXAMPLE.org", now)
	if err != nil || b.Reason != "guessing" || b.Allow || !b.Expires.Equal(puts[2].Expires.Truncate(time.Millisecond)) {
		t.Errorf("GetBan(login) = %+v, %v", b, err)
	}
	if _, err := s.GetBan(ctx, store.BanLogin, "admin@example.org", now.Add(10*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetBan at its expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.GetBan(ctx, store.BanLogin, "192.0.2.1", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetBan of another kind: %v, want ErrNotFound", err)
	}
	if b, err := s.GetBan(ctx, store.BanIP, "198.51.100.7", now); err != nil || !b.Allow || !b.Expires.IsZero() {
		t.Errorf("GetBan(allow) = %+v, %v", b, err)
	}

	// Upsert: the ban on 192.0.2.1 becomes an allow entry for good.
	if err := s.PutBan(ctx, &store.Ban{Kind: store.BanIP, Key: "192.0.2.1", Reason: "our relay", Allow: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.GetBan(ctx, store.BanIP, "192.0.2.1", now.Add(24*time.Hour)); err != nil || !b.Allow || b.Reason != "our relay" {
		t.Errorf("after upsert: %+v, %v", b, err)
	}
	if got, _ := s.ListBans(ctx, now); len(got) != 4 {
		t.Errorf("upsert changed the number of entries: %v", banKeys(got))
	}

	if err := s.DeleteBan(ctx, store.BanIP, "2001:db8::/32"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBan(ctx, store.BanIP, "2001:db8::/32"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteBan: %v, want ErrNotFound", err)
	}
	if err := s.PutBan(ctx, &store.Ban{Kind: "asn", Key: "x"}); err == nil {
		t.Error("unknown kind accepted")
	}
	if err := s.PutBan(ctx, &store.Ban{Kind: store.BanIP}); err == nil {
		t.Error("empty key accepted")
	}
}

// TestBansPurged checks that entries expired by the wall clock are dropped
// when another is put, so automatic bans do not pile up.
func TestBansPurged(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour)
	old := store.Ban{Kind: store.BanIP, Key: "192.0.2.9", Created: past, Expires: time.Now().Add(-time.Minute)}
	if err := s.PutBan(ctx, &old); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListBans(ctx, past); len(got) != 1 {
		t.Fatalf("ListBans(past) = %v, want the old ban", banKeys(got))
	}
	if err := s.PutBan(ctx, &store.Ban{Kind: store.BanIP, Key: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListBans(ctx, past); !slices.Equal(banKeys(got), []string{"ip 192.0.2.10"}) {
		t.Errorf("ListBans(past) after purge = %v", banKeys(got))
	}
}
