package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// openStore opens a fresh SQLite store in a temporary directory.
func openStore(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{
		Path:   filepath.Join(t.TempDir(), "gannet.db"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fixture builds a directory with every kind of address. It is created
// through the Directory's own operations, so they are tested too.
func fixture(t *testing.T) (*Directory, store.Store) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	d := New(st, config.Directory{SubaddressSeparator: "+"})
	for _, dom := range []string{"example.test", "Bücher.Example", "catch.test", "other.test"} {
		must[*store.Domain](t)(d.AddDomain(ctx, dom))
	}
	for _, a := range []string{
		"alice@example.test", "bob@example.test", "carol@example.test",
		"dave+special@example.test", "dave@example.test",
		"User@BÜCHER.example", "bob@catch.test", "zed@other.test",
	} {
		check(t, d.AddAccount(ctx, &store.Account{Address: a, PasswordHash: "x"}))
	}
	check(t, d.SetCatchAll(ctx, "catch.test", "bob@catch.test"))
	aliases := map[string][]string{
		"info@example.test":     {"alice@example.test", "Bob@Example.Test"},
		"fwd@example.test":      {"someone@remote.test"},
		"mix@example.test":      {"carol@example.test", "x@remote.test", "ALICE@example.test"},
		"loop1@example.test":    {"loop2@example.test"},
		"loop2@example.test":    {"loop1@example.test", "alice@example.test"},
		"dangling@example.test": {"nobody@example.test"},
		"tagged@example.test":   {"carol+fromalias@example.test"},
		"post@bücher.example":   {"user@xn--bcher-kva.example"},
		"tocatch@example.test":  {"whoever@catch.test"},
		"cross@example.test":    {"zed@other.test"},
	}
	for a, ts := range aliases {
		must[*store.Alias](t)(d.AddAlias(ctx, a, ts))
	}
	// A chain deeper than the limit: deep0 -> deep1 -> ... -> deep12 -> alice.
	for i := 0; i <= 12; i++ {
		next := fmt.Sprintf("deep%d@example.test", i+1)
		if i == 12 {
			next = "alice@example.test"
		}
		must[*store.Alias](t)(d.AddAlias(ctx, fmt.Sprintf("deep%d@example.test", i), []string{next}))
	}
	must[*store.Group](t)(d.AddGroup(ctx, store.KindGroup, "team@example.test", []string{"alice@example.test", "bob@example.test"}))
	must[*store.Group](t)(d.AddGroup(ctx, store.KindList, "news@example.test",
		[]string{"carol@example.test", "ext@remote.test", "team@example.test"}))
	must[*store.Group](t)(d.AddGroup(ctx, store.KindGroup, "empty@example.test", nil))
	return d, st
}

// recip is a Recipient in short form: "account detail via".
func recip(r Recipient) string {
	return strings.TrimSpace(fmt.Sprintf("%s %s %s", r.Account.Address, r.Detail, r.Via))
}

func TestResolve(t *testing.T) {
	d, _ := fixture(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		addr     string
		want     string // normalised address
		local    bool
		exists   bool
		accounts []string // recip() of each, in order
		forward  []string
	}{
		{"exact", "alice@example.test", "alice@example.test", true, true, []string{"alice@example.test"}, nil},
		{"case", "ALICE@Example.TEST", "alice@example.test", true, true, []string{"alice@example.test"}, nil},
		{"idn unicode", "user@bücher.example", "user@xn--bcher-kva.example", true, true, []string{"user@xn--bcher-kva.example"}, nil},
		{"idn upper", "USER@BÜCHER.EXAMPLE", "user@xn--bcher-kva.example", true, true, []string{"user@xn--bcher-kva.example"}, nil},
		{"idn a-label", "user@XN--BCHER-KVA.example.", "user@xn--bcher-kva.example", true, true, []string{"user@xn--bcher-kva.example"}, nil},
		{"idn alias", "post@BÜCHER.example", "post@xn--bcher-kva.example", true, true, []string{"user@xn--bcher-kva.example  post@xn--bcher-kva.example"}, nil},
		{"alias", "info@example.test", "info@example.test", true, true,
			[]string{"alice@example.test  info@example.test", "bob@example.test  info@example.test"}, nil},
		{"alias remote", "fwd@example.test", "fwd@example.test", true, true, nil, []string{"someone@remote.test"}},
		{"alias mixed dedup", "mix@example.test", "mix@example.test", true, true,
			[]string{"carol@example.test  mix@example.test", "alice@example.test  mix@example.test"}, []string{"x@remote.test"}},
		{"alias loop", "loop1@example.test", "loop1@example.test", true, true, []string{"alice@example.test  loop2@example.test"}, nil},
		{"alias dangling", "dangling@example.test", "dangling@example.test", true, false, nil, nil},
		{"alias to subaddress", "tagged@example.test", "tagged@example.test", true, true, []string{"carol@example.test fromalias tagged@example.test"}, nil},
		{"alias to catch-all domain", "tocatch@example.test", "tocatch@example.test", true, true, []string{"bob@catch.test  @catch.test"}, nil},
		{"alias to other domain", "cross@example.test", "cross@example.test", true, true, []string{"zed@other.test  cross@example.test"}, nil},
		{"group", "team@example.test", "team@example.test", true, true,
			[]string{"alice@example.test  team@example.test", "bob@example.test  team@example.test"}, nil},
		{"empty group", "empty@example.test", "empty@example.test", true, false, nil, nil},
		{"list with nested group", "news@example.test", "news@example.test", true, true,
			[]string{"carol@example.test  news@example.test", "alice@example.test  team@example.test", "bob@example.test  team@example.test"},
			[]string{"ext@remote.test"}},
		{"subaddress", "alice+tag@example.test", "alice+tag@example.test", true, true, []string{"alice@example.test tag"}, nil},
		{"subaddress empty tag", "alice+@example.test", "alice+@example.test", true, true, []string{"alice@example.test"}, nil},
		{"subaddress twice", "alice+a+b@example.test", "alice+a+b@example.test", true, true, []string{"alice@example.test a+b"}, nil},
		{"subaddress case", "Alice+Tag@example.test", "alice+tag@example.test", true, true, []string{"alice@example.test tag"}, nil},
		{"subaddress of alias", "info+x@example.test", "info+x@example.test", true, true,
			[]string{"alice@example.test x info@example.test", "bob@example.test x info@example.test"}, nil},
		{"exact beats subaddress", "dave+special@example.test", "dave+special@example.test", true, true, []string{"dave+special@example.test"}, nil},
		{"subaddress of unknown", "nobody+x@example.test", "nobody+x@example.test", true, false, nil, nil},
		{"leading separator", "+x@example.test", "+x@example.test", true, false, nil, nil},
		{"unknown", "nobody@example.test", "nobody@example.test", true, false, nil, nil},
		{"catch-all", "Random@catch.test", "random@catch.test", true, true, []string{"bob@catch.test  @catch.test"}, nil},
		{"catch-all exact first", "bob@catch.test", "bob@catch.test", true, true, []string{"bob@catch.test"}, nil},
		{"remote", "someone@remote.test", "someone@remote.test", false, false, nil, nil},
		{"address literal", "postmaster@[192.0.2.1]", "postmaster@[192.0.2.1]", false, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := d.Resolve(ctx, tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rc := range r.Accounts {
				got = append(got, recip(rc))
			}
			if r.Address != tt.want || r.Local != tt.local || r.Exists != tt.exists ||
				!slices.Equal(got, tt.accounts) || !slices.Equal(r.Forward, tt.forward) {
				t.Errorf("Resolve(%q) = {%s local=%v exists=%v accounts=%q forward=%q}\nwant {%s local=%v exists=%v accounts=%q forward=%q}",
					tt.addr, r.Address, r.Local, r.Exists, got, r.Forward,
					tt.want, tt.local, tt.exists, tt.accounts, tt.forward)
			}
		})
	}
}

func TestResolveTooDeep(t *testing.T) {
	d, _ := fixture(t)
	ctx := context.Background()
	if _, err := d.Resolve(ctx, "deep0@example.test"); !errors.Is(err, ErrTooDeep) {
		t.Errorf("13 nested aliases: err %v, want ErrTooDeep", err)
	}
	// Ten levels are fine: deep3 -> ... -> deep12 -> alice.
	r, err := d.Resolve(ctx, "deep3@example.test")
	if err != nil || !r.Exists || len(r.Accounts) != 1 || r.Accounts[0].Account.Address != "alice@example.test" {
		t.Errorf("10 nested aliases: %+v, %v", r, err)
	}
}

func TestResolveInvalid(t *testing.T) {
	d, _ := fixture(t)
	if _, err := d.Resolve(context.Background(), "not an address"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("err %v, want ErrInvalidAddress", err)
	}
}

// TestResolveCopies checks that changing a resolved account does not
// change what the cache hands out next.
func TestResolveCopies(t *testing.T) {
	d, _ := fixture(t)
	ctx := context.Background()
	r := must[*Resolution](t)(d.Resolve(ctx, "alice@example.test"))
	r.Accounts[0].Account.Address = "mallory@example.test"
	r = must[*Resolution](t)(d.Resolve(ctx, "alice@example.test"))
	if got := r.Accounts[0].Account.Address; got != "alice@example.test" {
		t.Errorf("cached account changed to %s", got)
	}
}

func TestIsLocalDomain(t *testing.T) {
	d, _ := fixture(t)
	ctx := context.Background()
	for dom, want := range map[string]bool{
		"example.test": true, "EXAMPLE.TEST.": true, "bücher.example": true,
		"xn--bcher-kva.example": true, "remote.test": false,
	} {
		got, err := d.IsLocalDomain(ctx, dom)
		if err != nil || got != want {
			t.Errorf("IsLocalDomain(%q) = %v, %v; want %v", dom, got, err, want)
		}
	}
	if _, err := d.IsLocalDomain(ctx, "a..b"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("IsLocalDomain(a..b): err %v", err)
	}
}

func TestCacheInvalidation(t *testing.T) {
	d, st := fixture(t)
	ctx := context.Background()
	exists := func(addr string) bool {
		t.Helper()
		return must[*Resolution](t)(d.Resolve(ctx, addr)).Exists
	}
	if exists("new@example.test") {
		t.Fatal("new@example.test exists before it is created")
	}
	// Created behind the directory's back (as another process would): the
	// negative answer is cached.
	dom := must[*store.Domain](t)(st.GetDomain(ctx, "example.test"))
	check(t, st.CreateAccount(ctx, &store.Account{Address: "new@example.test", DomainID: dom.ID}))
	if exists("new@example.test") {
		t.Fatal("negative answer not cached")
	}
	d.Invalidate()
	if !exists("new@example.test") {
		t.Fatal("Invalidate did not forget the negative answer")
	}

	// The directory's own changes take effect at once.
	check(t, d.RemoveAccount(ctx, "new@example.test"))
	if exists("new@example.test") {
		t.Fatal("removed account still resolves")
	}
	must[*store.Alias](t)(d.AddAlias(ctx, "new@example.test", []string{"bob@example.test"}))
	if !exists("new@example.test") {
		t.Fatal("new alias does not resolve")
	}

	// Entries expire: a negative one after at most 10 s, a positive one
	// after the TTL.
	now := time.Now()
	d.now = func() time.Time { return now }
	check(t, st.DeleteAlias(ctx, "new@example.test"))
	if !exists("new@example.test") {
		t.Fatal("positive answer not cached")
	}
	now = now.Add(DefaultCacheTTL + time.Second)
	if exists("new@example.test") {
		t.Fatal("positive answer outlived the TTL")
	}
	check(t, st.CreateAlias(ctx, &store.Alias{Address: "new@example.test", Targets: []string{"bob@example.test"}}))
	if exists("new@example.test") {
		t.Fatal("negative answer not cached")
	}
	now = now.Add(maxNegativeTTL + time.Second)
	if !exists("new@example.test") {
		t.Fatal("negative answer outlived its TTL")
	}
}

func TestCanSendAs(t *testing.T) {
	d, _ := fixture(t)
	ctx := context.Background()
	acct := func(addr string) *store.Account {
		return must[*store.Account](t)(d.Account(ctx, addr))
	}
	alice, bob, carol, user := acct("alice@example.test"), acct("bob@catch.test"), acct("carol@example.test"), acct("user@xn--bcher-kva.example")
	tests := []struct {
		who  *store.Account
		addr string
		want bool
	}{
		{alice, "alice@example.test", true},
		{alice, "ALICE@EXAMPLE.TEST", true},
		{alice, "alice+news@example.test", true},
		{alice, "info@example.test", true},   // alias to her
		{alice, "info+x@example.test", true}, // subaddress of that alias
		{alice, "loop1@example.test", true},  // through another alias
		{alice, "team@example.test", true},   // group member
		{alice, "news@example.test", false},  // a list gives no right
		{alice, "bob@example.test", false},
		{alice, "fwd@example.test", false},
		{alice, "someone@remote.test", false},
		{carol, "tagged@example.test", true}, // alias to her subaddress
		{carol, "team@example.test", false},
		{bob, "random@catch.test", false}, // catch-all gives no right
		{bob, "tocatch@example.test", false},
		{user, "post@bücher.example", true},
		{user, "User@BÜCHER.example", true},
	}
	for _, tt := range tests {
		got, err := d.CanSendAs(ctx, tt.who, tt.addr)
		if err != nil || got != tt.want {
			t.Errorf("CanSendAs(%s, %s) = %v, %v; want %v", tt.who.Address, tt.addr, got, err, tt.want)
		}
	}
}

func TestAccountAddresses(t *testing.T) {
	d, _ := fixture(t)
	ctx := context.Background()
	alice := must[*store.Account](t)(d.Account(ctx, "alice@example.test"))
	got := must[[]string](t)(d.AccountAddresses(ctx, alice))
	want := []string{"alice@example.test", "info@example.test", "loop1@example.test", "loop2@example.test",
		"mix@example.test", "team@example.test"}
	// The deep chain reaches alice within the depth limit from deep3 on.
	for i := 3; i <= 12; i++ {
		want = append(want, fmt.Sprintf("deep%d@example.test", i))
	}
	slices.Sort(want[1:])
	if !slices.Equal(got, want) {
		t.Errorf("AccountAddresses = %q\nwant %q", got, want)
	}
}

func TestManageErrors(t *testing.T) {
	d, _ := fixture(t)
	ctx := context.Background()
	var nf *NotFoundError
	// Address taken by another kind of object.
	for _, addr := range []string{"info@example.test", "team@example.test", "alice@example.test"} {
		if err := d.AddAccount(ctx, &store.Account{Address: addr}); !errors.Is(err, store.ErrExists) {
			t.Errorf("AddAccount(%s): err %v, want ErrExists", addr, err)
		}
		if _, err := d.AddAlias(ctx, addr, []string{"bob@example.test"}); !errors.Is(err, store.ErrExists) {
			t.Errorf("AddAlias(%s): err %v, want ErrExists", addr, err)
		}
	}
	// Unknown domain.
	if err := d.AddAccount(ctx, &store.Account{Address: "a@remote.test"}); !errors.As(err, &nf) || nf.What != "domain" {
		t.Errorf("AddAccount in unknown domain: err %v", err)
	}
	// No such account.
	_, err := d.Account(ctx, "nobody@example.test")
	if !errors.As(err, &nf) || !errors.Is(err, store.ErrNotFound) || err.Error() != "user nobody@example.test: no such account" {
		t.Errorf("Account(nobody): err %v", err)
	}
	// A group is not a list.
	if _, err := d.Group(ctx, store.KindList, "team@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("team as a list: err %v", err)
	}
	if err := d.RemoveGroup(ctx, store.KindList, "team@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing team as a list: err %v", err)
	}
	// Domains with addresses cannot go.
	if err := d.RemoveDomain(ctx, "example.test"); !errors.Is(err, store.ErrExists) {
		t.Errorf("RemoveDomain(example.test): err %v", err)
	}
	if err := d.RemoveAccount(ctx, "zed@other.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveDomain(ctx, "OTHER.test"); err != nil {
		t.Errorf("RemoveDomain(other.test): %v", err)
	}
	// Removing the catch-all account turns the catch-all off.
	check(t, d.RemoveAccount(ctx, "bob@catch.test"))
	dom := must[*store.Domain](t)(d.Domain(ctx, "catch.test"))
	if dom.CatchAll != "" {
		t.Errorf("catch-all still %q", dom.CatchAll)
	}
	// Members.
	check(t, d.AddGroupMembers(ctx, store.KindGroup, "team@example.test", []string{"Carol@example.test", "alice@example.test"}))
	g := must[*store.Group](t)(d.Group(ctx, store.KindGroup, "team@example.test"))
	if !slices.Contains(g.Members, "carol@example.test") || len(g.Members) != 3 {
		t.Errorf("members %q", g.Members)
	}
	check(t, d.RemoveGroupMembers(ctx, store.KindGroup, "team@example.test", []string{"CAROL@example.test"}))
	if err := d.RemoveGroupMembers(ctx, store.KindGroup, "team@example.test", []string{"carol@example.test"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing a non-member: err %v", err)
	}
	if _, err := d.AddAlias(ctx, "self@example.test", []string{"SELF@example.test"}); err == nil {
		t.Error("alias to itself accepted")
	}
}
