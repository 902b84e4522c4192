package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gannet/lib/store"
)

// sieveActive returns the names of the account's active scripts.
func sieveActive(t *testing.T, s *Store, acct int64) []string {
	t.Helper()
	l, err := s.ListSieveScripts(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sc := range l {
		if sc.Active {
			out = append(out, sc.Name)
		}
	}
	return out
}

func TestSieveScripts(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	acct := sqlAccount(t, s, "a@example.org")
	other := sqlAccount(t, s, "b@example.org")
	put := func(acct int64, name, content string, active bool) *store.SieveScript {
		t.Helper()
		sc := &store.SieveScript{AccountID: acct, Name: name, Content: content, Active: active}
		if err := s.PutSieveScript(ctx, sc); err != nil {
			t.Fatalf("PutSieveScript(%s): %v", name, err)
		}
		return sc
	}
	put(acct, "vacation", `require "vacation"; vacation "away";`, false)
	put(acct, "Vacation", `keep;`, false) // names are case-sensitive
	put(acct, "junk", `require "fileinto"; fileinto "Junk";`, false)
	put(other, "junk", `discard;`, true)

	if _, err := s.ActiveSieveScript(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ActiveSieveScript with none active: %v, want ErrNotFound", err)
	}
	if err := s.ActivateSieveScript(ctx, acct, "vacation"); err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateSieveScript(ctx, acct, "junk"); err != nil {
		t.Fatal(err)
	}
	a, err := s.ActiveSieveScript(ctx, acct)
	if err != nil || a.Name != "junk" || a.Content != `require "fileinto"; fileinto "Junk";` || a.Updated.IsZero() {
		t.Fatalf("ActiveSieveScript = %+v, %v", a, err)
	}
	if got := sieveActive(t, s, acct); len(got) != 1 || got[0] != "junk" {
		t.Errorf("active scripts = %v, want [junk]", got)
	}
	if got := sieveActive(t, s, other); len(got) != 1 || got[0] != "junk" {
		t.Errorf("other account's active scripts = %v, want its junk", got)
	}
	// Activating a missing script fails and changes nothing.
	if err := s.ActivateSieveScript(ctx, acct, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("activate missing: %v, want ErrNotFound", err)
	}
	if got := sieveActive(t, s, acct); len(got) != 1 || got[0] != "junk" {
		t.Errorf("after failed activate: active = %v", got)
	}

	// Replacing the active script's content keeps it active.
	sc := put(acct, "junk", `keep;`, false)
	if !sc.Active {
		t.Error("PutSieveScript on the active script reported it inactive")
	}
	if a, _ := s.ActiveSieveScript(ctx, acct); a == nil || a.Content != "keep;" {
		t.Errorf("active after replace = %+v", a)
	}
	// Put with Active moves the activation.
	put(acct, "Vacation", `discard;`, true)
	if got := sieveActive(t, s, acct); len(got) != 1 || got[0] != "Vacation" {
		t.Errorf("active after Put(Active) = %v", got)
	}
	g, err := s.GetSieveScript(ctx, acct, "Vacation")
	if err != nil || g.Content != "discard;" || !g.Active {
		t.Errorf("GetSieveScript = %+v, %v", g, err)
	}
	if _, err := s.GetSieveScript(ctx, acct, "VACATION"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSieveScript with other case: %v, want ErrNotFound", err)
	}

	// The database itself refuses a second active script.
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE sieve_scripts SET active = 1 WHERE account_id = ?`, acct)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("second active script: %v, want a UNIQUE constraint failure", err)
	}

	// The active script cannot be deleted (RFC 5804 section 2.10).
	if err := s.DeleteSieveScript(ctx, acct, "Vacation"); !errors.Is(err, store.ErrExists) {
		t.Errorf("delete active: %v, want ErrExists", err)
	}
	// Rename keeps activation; to an existing name fails.
	if err := s.RenameSieveScript(ctx, acct, "Vacation", "junk"); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto existing: %v, want ErrExists", err)
	}
	if err := s.RenameSieveScript(ctx, acct, "Vacation", "Vacation"); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto itself: %v, want ErrExists", err)
	}
	if err := s.RenameSieveScript(ctx, acct, "nope", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rename missing: %v, want ErrNotFound", err)
	}
	if err := s.RenameSieveScript(ctx, acct, "Vacation", "away"); err != nil {
		t.Fatal(err)
	}
	if a, err := s.ActiveSieveScript(ctx, acct); err != nil || a.Name != "away" || a.Content != "discard;" {
		t.Errorf("active after rename = %+v, %v", a, err)
	}

	// Deactivate all, then the former active script can go.
	if err := s.ActivateSieveScript(ctx, acct, ""); err != nil {
		t.Fatal(err)
	}
	if got := sieveActive(t, s, acct); len(got) != 0 {
		t.Errorf("active after deactivation = %v", got)
	}
	if err := s.DeleteSieveScript(ctx, acct, "away"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSieveScript(ctx, acct, "away"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	l, err := s.ListSieveScripts(ctx, acct)
	if err != nil || len(l) != 2 || l[0].Name != "junk" || l[1].Name != "vacation" {
		t.Errorf("ListSieveScripts = %+v, %v", l, err)
	}

	// Names follow RFC 5804 section 1.6; scripts need an account.
	for _, bad := range []string{"", "a\nb", "tab\there", "del\x7f", "c1\u0085", "ls\u2028", "\xff", strings.Repeat("x", 1025)} {
		if err := s.PutSieveScript(ctx, &store.SieveScript{AccountID: acct, Name: bad, Content: "keep;"}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if err := s.PutSieveScript(ctx, &store.SieveScript{AccountID: acct, Name: "Ünïcode 名前", Content: "keep;"}); err != nil {
		t.Errorf("Unicode name refused: %v", err)
	}
	if err := s.PutSieveScript(ctx, &store.SieveScript{AccountID: 9999, Name: "x", Content: "keep;"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("script for a missing account: %v, want ErrNotFound", err)
	}
	// Deleting the account deletes its scripts.
	if err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM accounts WHERE id = ?`, other)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.ListSieveScripts(ctx, other); err != nil || len(l) != 0 {
		t.Errorf("scripts of a deleted account: %+v, %v", l, err)
	}
}

// TestSieveActivateConcurrent activates scripts from two stores at once;
// exactly one stays active.
func TestSieveActivateConcurrent(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	acct := sqlAccount(t, s, "a@example.org")
	for i := range 4 {
		if err := s.PutSieveScript(ctx, &store.SieveScript{AccountID: acct, Name: fmt.Sprint("s", i), Content: "keep;"}); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := Open(ctx, Options{Path: s.opts.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g, st := range []*Store{s, s2, s, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if err := st.ActivateSieveScript(ctx, acct, fmt.Sprint("s", (g+i)%4)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := sieveActive(t, s, acct); len(got) != 1 {
		t.Errorf("active scripts = %v, want exactly one", got)
	}
}

// TestSieveScriptsWithin checks the script count limit, also against
// sessions of two processes (two Stores) creating scripts at once.
func TestSieveScriptsWithin(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	acct := sqlAccount(t, s, "a@example.org")
	put := func(st *Store, name string) error {
		return st.PutSieveScriptWithin(ctx, &store.SieveScript{AccountID: acct, Name: name, Content: "keep;"}, 3)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := put(s, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := put(s, "d"); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Errorf("a fourth script: %v, want ErrQuotaExceeded", err)
	}
	if err := put(s, "b"); err != nil {
		t.Errorf("replacing a script at the limit: %v", err)
	}

	// Two processes racing for the last place: one wins.
	if err := s.DeleteSieveScript(ctx, acct, "c"); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, Options{Path: s.opts.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = put([]*Store{s, s2}[i%2], fmt.Sprint("new", i)) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrQuotaExceeded):
			t.Errorf("put new%d: %v", i, err)
		}
	}
	if l, _ := s.ListSieveScripts(ctx, acct); won != 1 || len(l) != 3 {
		t.Errorf("%d puts won the last place, %d scripts; want 1 and 3", won, len(l))
	}
}
