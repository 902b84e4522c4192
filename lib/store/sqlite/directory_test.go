package sqlite

import (
	"context"
	"errors"
	"slices"
	"testing"

	"gannet/lib/store"
)

func TestDomains(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	d := &store.Domain{Name: "example.test"}
	if err := s.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d.ID == 0 || d.Created.IsZero() {
		t.Errorf("CreateDomain did not set ID/Created: %+v", d)
	}
	if err := s.CreateDomain(ctx, &store.Domain{Name: "EXAMPLE.test"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate domain: err = %v, want ErrExists", err)
	}
	if err := s.CreateDomain(ctx, &store.Domain{Name: "other.test"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDomain(ctx, "Example.Test")
	if err != nil || got.ID != d.ID || got.Name != "example.test" || !got.Created.Equal(d.Created) {
		t.Errorf("GetDomain = %+v, %v; want %+v", got, err, d)
	}
	if _, err := s.GetDomain(ctx, "nowhere.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDomain unknown: err = %v, want ErrNotFound", err)
	}
	d.CatchAll = "postmaster@example.test"
	if err := s.UpdateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListDomains(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "example.test" || list[0].CatchAll != d.CatchAll || list[1].Name != "other.test" {
		t.Errorf("ListDomains = %+v, %v", list, err)
	}
	if err := s.UpdateDomain(ctx, &store.Domain{ID: 9999, Name: "x.test"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateDomain unknown: err = %v, want ErrNotFound", err)
	}

	a := &store.Account{Address: "u@example.test"}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAlias(ctx, &store.Alias{Address: "al@example.test", Targets: []string{"u@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "example.test"); !errors.Is(err, store.ErrExists) {
		t.Errorf("DeleteDomain with an account: err = %v, want ErrExists", err)
	}
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "example.test"); err != nil {
		t.Errorf("DeleteDomain without accounts: %v", err)
	}
	if _, err := s.GetAlias(ctx, "al@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alias survived its domain: err = %v", err)
	}
	if err := s.DeleteDomain(ctx, "example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDomain twice: err = %v, want ErrNotFound", err)
	}
}

func TestAccounts(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, n := range []string{"example.test", "other.test"} {
		if err := s.CreateDomain(ctx, &store.Domain{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAccount(ctx, &store.Account{Address: "x@unknown.test"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("account in unknown domain: err = %v, want ErrNotFound", err)
	}
	if err := s.CreateAccount(ctx, &store.Account{Address: "no-at-sign"}); err == nil {
		t.Error("account without domain accepted")
	}
	a := &store.Account{Address: "alice@example.test", DisplayName: "Alice", PasswordHash: "h1", QuotaBytes: 1000}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &store.Account{Address: "bob@other.test"}
	if err := s.CreateAccount(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, &store.Account{Address: "ALICE@example.test"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate account: err = %v, want ErrExists", err)
	}

	mbs, err := s.ListMailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	uses := map[string]string{}
	uvs := map[uint32]bool{}
	for _, m := range mbs {
		uses[m.Name] = m.SpecialUse
		uvs[m.UIDValidity] = true
		if m.UIDNext != 1 || m.UIDValidity == 0 || !m.Subscribed {
			t.Errorf("new mailbox %+v: want UIDNext 1, UIDValidity set, subscribed", m)
		}
	}
	want := map[string]string{"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Junk": `\Junk`, "Trash": `\Trash`, "Archive": `\Archive`}
	if len(uses) != len(want) || len(uvs) != len(want) {
		t.Errorf("default mailboxes %v (UIDVALIDITYs %v), want %v with distinct UIDVALIDITY", uses, uvs, want)
	}
	for n, u := range want {
		if got, ok := uses[n]; !ok || got != u {
			t.Errorf("mailbox %s: special-use %q (present %v), want %q", n, got, ok, u)
		}
	}
	junk, err := s.GetMailboxBySpecialUse(ctx, a.ID, store.SpecialJunk)
	if err != nil || junk.Name != "Junk" {
		t.Errorf("GetMailboxBySpecialUse(Junk) = %+v, %v", junk, err)
	}

	got, err := s.GetAccount(ctx, "Alice@Example.test")
	if err != nil || got.ID != a.ID || got.DisplayName != "Alice" || got.PasswordHash != "h1" || got.QuotaBytes != 1000 || got.DomainID != a.DomainID {
		t.Errorf("GetAccount = %+v, %v", got, err)
	}
	if got, err := s.GetAccountByID(ctx, b.ID); err != nil || got.Address != "bob@other.test" {
		t.Errorf("GetAccountByID = %+v, %v", got, err)
	}
	if _, err := s.GetAccountByID(ctx, 4242); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccountByID unknown: err = %v", err)
	}
	if l, err := s.ListAccounts(ctx, "other.test"); err != nil || len(l) != 1 || l[0].ID != b.ID {
		t.Errorf("ListAccounts(other.test) = %+v, %v", l, err)
	}
	if l, err := s.ListAccounts(ctx, ""); err != nil || len(l) != 2 {
		t.Errorf("ListAccounts() = %+v, %v", l, err)
	}

	a.PasswordHash, a.Disabled, a.QuotaMessages = "h2", true, 7
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAccountByID(ctx, a.ID); got.PasswordHash != "h2" || !got.Disabled || got.QuotaMessages != 7 {
		t.Errorf("after UpdateAccount: %+v", got)
	}
	a.Address = "bob@other.test"
	if err := s.UpdateAccount(ctx, a); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto another account: err = %v, want ErrExists", err)
	}
	a.Address = "alice@other.test"
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAccount(ctx, "alice@other.test"); err != nil || got.DomainID != b.DomainID {
		t.Errorf("after moving domain: %+v, %v", got, err)
	}
	if u, err := s.AccountUsage(ctx, a.ID); err != nil || u != (store.AccountUsage{}) {
		t.Errorf("AccountUsage = %+v, %v", u, err)
	}
}

func TestDeleteAccountCascades(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "gone")
	keep := newFixture(t, s, "keep")
	shared := newMsg(f.acct.ID, f.inbox.ID, "shared@x", "same bytes")
	m1 := f.add(t, shared)
	f.add(t, newMsg(f.acct.ID, f.inbox.ID, "own@x", "only here"))
	shared.AccountID, shared.MailboxID = keep.acct.ID, keep.inbox.ID
	keep.add(t, shared)
	if err := s.AddAppPassword(ctx, &store.AppPassword{AccountID: f.acct.ID, Label: "phone", Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, &store.Group{Kind: store.KindGroup, Address: "team@example.test",
		Members: []string{"gone@example.test", "keep@example.test"}}); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteAccount(ctx, "gone@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccount(ctx, "gone@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("account still there: %v", err)
	}
	for _, q := range []string{
		"SELECT count(*) FROM mailboxes WHERE account_id = ?",
		"SELECT count(*) FROM messages WHERE account_id = ?",
		"SELECT count(*) FROM changes WHERE account_id = ?",
		"SELECT count(*) FROM app_passwords WHERE account_id = ?",
		"SELECT count(*) FROM thread_refs WHERE account_id = ?",
	} {
		var n int
		if err := s.rdb.QueryRow(q, f.acct.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows left (%v)", q, n, err)
		}
	}
	var blobs int
	s.rdb.QueryRow("SELECT count(*) FROM blobs").Scan(&blobs)
	if blobs != 1 {
		t.Errorf("%d blobs left, want 1 (the one the other account shares)", blobs)
	}
	if b, err := s.ReadBlob(ctx, m1.BlobID, 0, -1); err != nil || string(b) != string(shared.Raw) {
		t.Errorf("shared blob after delete: %q, %v", b, err)
	}
	g, err := s.GetGroup(ctx, "team@example.test")
	if err != nil || !slices.Equal(g.Members, []string{"keep@example.test"}) {
		t.Errorf("group after delete = %+v, %v", g, err)
	}
	if err := s.DeleteAccount(ctx, "gone@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

func TestAppPasswords(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "u")
	p1 := &store.AppPassword{AccountID: f.acct.ID, Label: "phone", Hash: "h1"}
	p2 := &store.AppPassword{AccountID: f.acct.ID, Label: "laptop", Hash: "h2"}
	for _, p := range []*store.AppPassword{p1, p2} {
		if err := s.AddAppPassword(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddAppPassword(ctx, &store.AppPassword{AccountID: 999, Label: "x", Hash: "h"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("app password for unknown account: err = %v, want ErrNotFound", err)
	}
	l, err := s.ListAppPasswords(ctx, f.acct.ID)
	if err != nil || len(l) != 2 || l[0].Label != "phone" || l[1].Hash != "h2" || l[0].ID != p1.ID {
		t.Errorf("ListAppPasswords = %+v, %v", l, err)
	}
	other := newFixture(t, s, "v")
	if err := s.DeleteAppPassword(ctx, other.acct.ID, p1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting another account's app password: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAppPassword(ctx, f.acct.ID, p1.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.ListAppPasswords(ctx, f.acct.ID); len(l) != 1 || l[0].ID != p2.ID {
		t.Errorf("after delete: %+v", l)
	}
}

func TestAliases(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	newFixture(t, s, "u")
	if err := s.CreateDomain(ctx, &store.Domain{Name: "b.test"}); err != nil {
		t.Fatal(err)
	}
	a := &store.Alias{Address: "info@example.test", Targets: []string{"u@example.test", "ext@remote.test"}}
	if err := s.CreateAlias(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAlias(ctx, &store.Alias{Address: "x@b.test", Targets: []string{"u@example.test"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []store.Alias{
		{Address: "u@example.test", Targets: []string{"x@y"}},    // an account
		{Address: "INFO@example.test", Targets: []string{"x@y"}}, // an alias
	} {
		if err := s.CreateAlias(ctx, &bad); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateAlias(%s): err = %v, want ErrExists", bad.Address, err)
		}
	}
	if err := s.CreateAlias(ctx, &store.Alias{Address: "a@nowhere.test", Targets: []string{"x@y"}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alias in unknown domain: err = %v, want ErrNotFound", err)
	}
	if err := s.CreateAlias(ctx, &store.Alias{Address: "empty@example.test"}); err == nil {
		t.Error("alias without targets accepted")
	}
	got, err := s.GetAlias(ctx, "Info@example.test")
	if err != nil || got.ID != a.ID || !slices.Equal(got.Targets, a.Targets) {
		t.Errorf("GetAlias = %+v, %v", got, err)
	}
	if l, err := s.ListAliases(ctx, "example.test"); err != nil || len(l) != 1 || l[0].Address != "info@example.test" {
		t.Errorf("ListAliases(example.test) = %+v, %v", l, err)
	}
	if l, err := s.ListAliases(ctx, ""); err != nil || len(l) != 2 {
		t.Errorf("ListAliases() = %+v, %v", l, err)
	}
	if err := s.DeleteAlias(ctx, "info@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlias(ctx, "info@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAlias twice: err = %v", err)
	}
}

func TestGroups(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	newFixture(t, s, "u")
	g := &store.Group{Kind: store.KindGroup, Address: "team@example.test", Members: []string{"u@example.test", "v@example.test"}}
	l := &store.Group{Kind: store.KindList, Address: "list@example.test", Members: []string{"u@example.test", "far@remote.test"}}
	for _, x := range []*store.Group{g, l} {
		if err := s.CreateGroup(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateGroup(ctx, &store.Group{Kind: "club", Address: "c@example.test"}); err == nil {
		t.Error("unknown kind accepted")
	}
	if err := s.CreateGroup(ctx, &store.Group{Kind: store.KindList, Address: "u@example.test"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("group on an account's address: err = %v, want ErrExists", err)
	}
	if err := s.AddGroupMember(ctx, "team@example.test", "w@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddGroupMember(ctx, "team@example.test", "w@example.test"); !errors.Is(err, store.ErrExists) {
		t.Errorf("member twice: err = %v, want ErrExists", err)
	}
	if err := s.AddGroupMember(ctx, "nope@example.test", "w@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("member of unknown group: err = %v, want ErrNotFound", err)
	}
	if err := s.RemoveGroupMember(ctx, "team@example.test", "v@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveGroupMember(ctx, "team@example.test", "v@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("remove non-member: err = %v, want ErrNotFound", err)
	}
	got, err := s.GetGroup(ctx, "team@example.test")
	if err != nil || got.Kind != store.KindGroup || !slices.Equal(got.Members, []string{"u@example.test", "w@example.test"}) {
		t.Errorf("GetGroup = %+v, %v", got, err)
	}
	if gs, err := s.ListGroups(ctx, store.KindList, ""); err != nil || len(gs) != 1 || gs[0].Address != "list@example.test" {
		t.Errorf("ListGroups(list) = %+v, %v", gs, err)
	}
	if gs, err := s.ListGroups(ctx, "", "example.test"); err != nil || len(gs) != 2 {
		t.Errorf("ListGroups(all) = %+v, %v", gs, err)
	}
	gs, err := s.GroupsWithMember(ctx, "U@example.test")
	if err != nil || len(gs) != 2 || gs[0].Address != "list@example.test" || len(gs[1].Members) != 2 {
		t.Errorf("GroupsWithMember = %+v, %v", gs, err)
	}
	if err := s.DeleteGroup(ctx, "team@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetGroup(ctx, "team@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted group: err = %v", err)
	}
	if gs, _ := s.GroupsWithMember(ctx, "w@example.test"); len(gs) != 0 {
		t.Errorf("members outlived group: %+v", gs)
	}
}
