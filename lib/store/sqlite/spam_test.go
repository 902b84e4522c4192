package sqlite

import (
	"context"
	"database/sql"
	"math"
	"testing"

	"gannet/lib/store"
)

// sqlAccount inserts a domain (if needed) and an account straight into the
// tables and returns the account's ID, so these tests do not depend on the
// directory code.
func sqlAccount(t testing.TB, s *Store, address string) int64 {
	t.Helper()
	var id int64
	err := s.write(context.Background(), func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO domains (name, created) VALUES ('example.org', 1) ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		return tx.QueryRow(`INSERT INTO accounts (domain_id, address, created)
			VALUES ((SELECT id FROM domains WHERE name = 'example.org'), ?, 1) RETURNING id`, address).Scan(&id)
	})
	if err != nil {
		t.Fatalf("create account %s: %v", address, err)
	}
	return id
}

func TestSpamTokens(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	acct := sqlAccount(t, s, "a@example.org")
	const (
		big  = math.MaxUint64
		high = uint64(1) << 63
	)
	train := func(account int64, tokens []uint64, spam, ham int) {
		t.Helper()
		if err := s.TrainTokens(ctx, account, tokens, spam, ham); err != nil {
			t.Fatal(err)
		}
	}
	check := func(account int64, tokens []uint64, want map[uint64]store.TokenCount) {
		t.Helper()
		got, err := s.TokenCounts(ctx, account, tokens)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("account %d: TokenCounts = %v, want %v", account, got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("account %d: token %d = %+v, want %+v", account, k, got[k], w)
			}
		}
	}
	totals := func(account int64, want store.BayesTotals) {
		t.Helper()
		got, err := s.BayesTotals(ctx, account)
		if err != nil || got != want {
			t.Errorf("account %d: BayesTotals = %+v, %v; want %+v", account, got, err, want)
		}
	}
	totals(0, store.BayesTotals{})

	// Two spams and a ham into the global database; a token repeated in one
	// message counts once.
	train(0, []uint64{1, 2, 2, big, high}, 1, 0)
	train(0, []uint64{1, big}, 1, 0)
	train(0, []uint64{2, 3}, 0, 1)
	all := []uint64{1, 2, 3, 4, big, high}
	check(0, all, map[uint64]store.TokenCount{
		1: {Spam: 2}, 2: {Spam: 1, Ham: 1}, 3: {Ham: 1}, big: {Spam: 2}, high: {Spam: 1},
	})
	totals(0, store.BayesTotals{Spam: 2, Ham: 1})

	// The account's database is separate.
	train(acct, []uint64{1, 4}, 0, 1)
	check(acct, all, map[uint64]store.TokenCount{1: {Ham: 1}, 4: {Ham: 1}})
	totals(acct, store.BayesTotals{Ham: 1})
	check(0, []uint64{4}, map[uint64]store.TokenCount{})

	// Retrain the first spam as ham: spam -1, ham +1.
	train(0, []uint64{1, 2, big, high}, -1, 1)
	check(0, all, map[uint64]store.TokenCount{
		1: {Spam: 1, Ham: 1}, 2: {Ham: 2}, 3: {Ham: 1}, big: {Spam: 1, Ham: 1}, high: {Ham: 1},
	})
	totals(0, store.BayesTotals{Spam: 1, Ham: 2})

	// Untrain more than was trained: counts stop at zero and tokens left at
	// zero are gone; untraining unknown tokens creates nothing.
	train(0, []uint64{1, 2, 3, 5, big, high}, -5, -5)
	check(0, []uint64{1, 2, 3, 5, big, high}, map[uint64]store.TokenCount{})
	totals(0, store.BayesTotals{})
	train(0, []uint64{7}, 0, 0)
	check(0, []uint64{7}, map[uint64]store.TokenCount{})

	// Deleting the account drops its tokens and totals.
	if err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM accounts WHERE id = ?`, acct)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check(acct, all, map[uint64]store.TokenCount{})
	totals(acct, store.BayesTotals{})
}

// TestSpamTokensBatches trains and reads more tokens than one statement
// names.
func TestSpamTokensBatches(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var toks []uint64
	for i := range 1234 {
		toks = append(toks, uint64(i)*0x9e3779b97f4a7c15)
	}
	if err := s.TrainTokens(ctx, 0, toks, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.TrainTokens(ctx, 0, toks[600:], 0, 2); err != nil {
		t.Fatal(err)
	}
	// toks[i]+1 is never another token: that would need (j-i)*0x9e37... = 1
	// (mod 2^64), with j-i far beyond 1234.
	query := append([]uint64{}, toks...)
	for _, k := range toks[:700] {
		query = append(query, k+1)
	}
	got, err := s.TokenCounts(ctx, 0, query)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(toks) {
		t.Fatalf("TokenCounts returned %d counts, want %d", len(got), len(toks))
	}
	for i, k := range toks {
		w := store.TokenCount{Spam: 1}
		if i >= 600 {
			w.Ham = 2
		}
		if got[k] != w {
			t.Fatalf("token %d (#%d) = %+v, want %+v", k, i, got[k], w)
		}
	}
	if tot, err := s.BayesTotals(ctx, 0); err != nil || tot != (store.BayesTotals{Spam: 1, Ham: 2}) {
		t.Errorf("BayesTotals = %+v, %v", tot, err)
	}
}
