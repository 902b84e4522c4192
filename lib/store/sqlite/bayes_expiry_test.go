package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gannet/lib/store"
)

// setLastSeen backdates the given tokens of the account to day.
func setLastSeen(t *testing.T, s *Store, account int64, day int64, tokens ...uint64) {
	t.Helper()
	err := s.write(context.Background(), func(tx *sql.Tx) error {
		for _, tok := range tokens {
			if _, err := tx.Exec(`UPDATE spam_tokens SET last_seen = ? WHERE account_id = ? AND token = ?`,
				day, account, int64(tok)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tokenSet returns the account's tokens (any count), sorted.
func tokenSet(t *testing.T, s *Store, account int64) []uint64 {
	t.Helper()
	var out []uint64
	err := s.ScanTokens(context.Background(), account, 0, func(tok uint64, _ store.TokenCount) error {
		out = append(out, tok)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestExpireTokens(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	acct := sqlAccount(t, s, "a@example.org")
	today := bayesDay(time.Now())
	learn := func(account int64, hash uint64, tokens ...uint64) {
		t.Helper()
		if _, err := s.LearnMessage(ctx, account, hash, tokens, true, false); err != nil {
			t.Fatal(err)
		}
	}
	// Global: 1 and 2 seen twice, 3..6 once.
	learn(0, 100, 1, 2, 3, 4)
	learn(0, 101, 1, 2, 5, 6)
	// The account has the same tokens, all old.
	learn(acct, 100, 1, 2, 3, 4)
	learn(acct, 101, 1, 2, 5, 6)
	setLastSeen(t, s, acct, today-100, 1, 2, 3, 4, 5, 6)

	// A fresh token is marked seen today.
	var seen int64
	if err := s.rdb.QueryRow(`SELECT last_seen FROM spam_tokens WHERE account_id = 0 AND token = 3`).Scan(&seen); err != nil || seen != today {
		t.Fatalf("last_seen = %d, %v; want today (%d)", seen, err, today)
	}

	// Old singletons (3, 4) go; new ones (5, 6) and repeated tokens (1) stay.
	setLastSeen(t, s, 0, today-30, 1, 3, 4)
	_, gen0, _ := s.BayesGeneration(ctx, 0)
	_, genA, _ := s.BayesGeneration(ctx, acct)
	n, err := s.ExpireTokens(ctx, 0, time.Now().AddDate(0, 0, -21), 0)
	if err != nil || n != 2 {
		t.Fatalf("ExpireTokens = %d, %v; want 2", n, err)
	}
	if got, want := tokenSet(t, s, 0), []uint64{1, 2, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("global tokens %v, want %v", got, want)
	}
	if _, g, _ := s.BayesGeneration(ctx, 0); g == gen0 {
		t.Errorf("generation %d unchanged after expiry", g)
	}
	// The other account is untouched.
	if got, want := tokenSet(t, s, acct), []uint64{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("account tokens %v, want %v", got, want)
	}
	if _, g, _ := s.BayesGeneration(ctx, acct); g != genA {
		t.Errorf("account generation %d, want %d", g, genA)
	}
	// Nothing to do: the generation stays.
	_, gen0, _ = s.BayesGeneration(ctx, 0)
	if n, err := s.ExpireTokens(ctx, 0, time.Now().AddDate(0, 0, -21), 0); err != nil || n != 0 {
		t.Errorf("second ExpireTokens = %d, %v; want 0", n, err)
	}
	if _, g, _ := s.BayesGeneration(ctx, 0); g != gen0 {
		t.Errorf("generation %d changed with nothing removed (was %d)", g, gen0)
	}

	// The cap keeps the most recently seen tokens: 1 is oldest, then 5.
	setLastSeen(t, s, 0, today-10, 1)
	setLastSeen(t, s, 0, today-5, 5)
	if n, err := s.ExpireTokens(ctx, 0, time.Now().AddDate(0, 0, -21), 2); err != nil || n != 2 {
		t.Fatalf("capped ExpireTokens = %d, %v; want 2", n, err)
	}
	if got, want := tokenSet(t, s, 0), []uint64{2, 6}; !slices.Equal(got, want) {
		t.Errorf("global tokens after cap %v, want %v", got, want)
	}
	// Training again marks a token seen: an old token learned today stays.
	learn(acct, 102, 3)
	// Every database (accountID < 0): the account loses its old singletons
	// but 3, trained again today (now seen twice anyway), and 1, 2.
	if n, err := s.ExpireTokens(ctx, -1, time.Now().AddDate(0, 0, -21), 0); err != nil || n != 3 {
		t.Fatalf("ExpireTokens(all) = %d, %v; want 3", n, err)
	}
	if got, want := tokenSet(t, s, acct), []uint64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("account tokens %v, want %v", got, want)
	}
	if got, want := tokenSet(t, s, 0), []uint64{2, 6}; !slices.Equal(got, want) {
		t.Errorf("global tokens %v, want %v", got, want)
	}
	// Totals are kept: expiry forgets tokens, not messages.
	if tot, _ := s.BayesTotals(ctx, acct); tot.Spam != 3 {
		t.Errorf("account totals %+v, want 3 spam", tot)
	}
}

func TestLearnMessagesBatch(t *testing.T) {
	ctx := context.Background()
	msgs := []store.LearnItem{
		{Hash: 1, Tokens: []uint64{1, 2, 3}},
		{Hash: 2, Tokens: []uint64{2, 3, 4, 4}},
		{Hash: 1, Tokens: []uint64{1, 2, 3}}, // again: already learned
		{Hash: 3, Tokens: []uint64{5}},
	}
	type step struct {
		msgs         []store.LearnItem
		spam, forget bool
	}
	steps := []step{
		{msgs, true, false},
		{msgs[1:2], false, false}, // moved
		{[]store.LearnItem{{Hash: 3, Tokens: []uint64{5}}, {Hash: 9, Tokens: []uint64{9}}}, false, true},
		{msgs, false, false},
	}
	one, batch := openTest(t), openTest(t)
	for i, st := range steps {
		var want []store.LearnResult
		for _, m := range st.msgs {
			r, err := one.LearnMessage(ctx, 0, m.Hash, m.Tokens, st.spam, st.forget)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, r)
		}
		got, err := batch.LearnMessages(ctx, 0, st.msgs, st.spam, st.forget)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("step %d: LearnMessages = %v, one by one %v", i, got, want)
		}
		counts := func(s *Store) map[uint64]store.TokenCount {
			m := map[uint64]store.TokenCount{}
			s.ScanTokens(ctx, 0, 0, func(tok uint64, c store.TokenCount) error { m[tok] = c; return nil })
			return m
		}
		if a, b := counts(one), counts(batch); len(a) != len(b) {
			t.Errorf("step %d: tokens %v, one by one %v", i, b, a)
		} else {
			for k, v := range a {
				if b[k] != v {
					t.Errorf("step %d: token %d = %+v, one by one %+v", i, k, b[k], v)
				}
			}
		}
		ta, _ := one.BayesTotals(ctx, 0)
		tb, _ := batch.BayesTotals(ctx, 0)
		if ta != tb {
			t.Errorf("step %d: totals %+v, one by one %+v", i, tb, ta)
		}
	}
	if _, err := batch.LearnMessages(ctx, 0, make([]store.LearnItem, maxLearnBatch+1), true, false); err == nil {
		t.Error("LearnMessages took more than maxLearnBatch messages")
	}
}

// Migration 013 marks the tokens already stored as seen on the day it runs.
func TestMigrateBayesLastSeen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gannet.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > 12 {
			break
		}
		if _, err := db.Exec(m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 12;
		INSERT INTO spam_tokens (account_id, token, spam, ham) VALUES (0, 7, 1, 0), (0, 8, 2, 3)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(context.Background(), Options{Path: path, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	today := bayesDay(time.Now())
	var n int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM spam_tokens WHERE last_seen BETWEEN ? AND ?`,
		today-1, today).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d tokens marked seen today, %v; want 2", n, err)
	}
	// Just migrated, nothing is old enough to expire.
	if n, err := s.ExpireTokens(context.Background(), -1, time.Now().AddDate(0, 0, -21), 0); err != nil || n != 0 {
		t.Errorf("ExpireTokens after migration = %d, %v; want 0", n, err)
	}
}
