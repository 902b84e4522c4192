package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/message"
	"gannet/lib/reply"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// fixture is a store with a directory of every kind of address.
type fixture struct {
	st   *sqlite.Store
	dir  *directory.Directory
	acct map[string]*store.Account // by local part of example.test (and "catch")
}

func newFixture(t *testing.T) *fixture {
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
	dir := directory.New(st, config.Directory{SubaddressSeparator: "+"})
	f := &fixture{st: st, dir: dir, acct: map[string]*store.Account{}}
	for _, d := range []string{"example.test", "catch.test"} {
		if _, err := dir.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"alice@example.test", "bob@example.test", "carol@example.test", "bob@catch.test"} {
		acct := &store.Account{Address: a, PasswordHash: "x"}
		if err := dir.AddAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		local, dom, _ := strings.Cut(a, "@")
		if dom == "catch.test" {
			local = "catch"
		}
		f.acct[local] = acct
	}
	if err := dir.SetCatchAll(ctx, "catch.test", "bob@catch.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddAlias(ctx, "info@example.test", []string{"alice@example.test", "bob@example.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddAlias(ctx, "fwd@example.test", []string{"someone@remote.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddGroup(ctx, store.KindGroup, "team@example.test", []string{"alice@example.test", "carol@example.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddGroup(ctx, store.KindList, "news@example.test", []string{"carol@example.test", "ext@remote.test"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// inbox lists the messages in one mailbox of an account.
func (f *fixture) list(t *testing.T, local, mailbox string) []store.Message {
	t.Helper()
	ctx := context.Background()
	a := f.acct[local]
	mb, err := f.st.GetMailbox(ctx, a.ID, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := f.st.ListMessages(ctx, a.ID, store.MessageFilter{MailboxID: mb.ID})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// setQuota limits an account to n messages.
func (f *fixture) setQuota(t *testing.T, local string, n int64) {
	t.Helper()
	a := *f.acct[local]
	a.QuotaMessages = n
	if err := f.st.UpdateAccount(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	f.dir.Invalidate()
}

func testMessage(subject string) []byte {
	return []byte("From: sender@remote.test\r\nTo: someone@example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@remote.test>\r\n\r\nHello.\r\n")
}

func (f *fixture) deliverer(cfg config.Deliver) *Deliverer {
	return New(f.st, f.dir, cfg, slog.New(slog.DiscardHandler))
}

func deliver(t *testing.T, d *Deliverer, req Request) []Result {
	t.Helper()
	res, err := d.Deliver(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(req.Recipients) {
		t.Fatalf("%d results for %d recipients", len(res), len(req.Recipients))
	}
	for i, r := range res {
		if r.Recipient != req.Recipients[i] {
			t.Fatalf("result %d is for %q, want %q", i, r.Recipient, req.Recipients[i])
		}
	}
	return res
}

func replyOf(r Result) string {
	if r.Err == nil {
		return "ok"
	}
	return fmt.Sprintf("%d %s", r.Err.Code, r.Err.Enhanced)
}

func TestDeliverOneCommit(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	before := f.st.Stats().Commits
	res := deliver(t, d, Request{Sender: "s@remote.test", Raw: testMessage("one commit"),
		Recipients: []string{"alice@example.test", "bob@example.test", "carol@example.test"}})
	for _, r := range res {
		if r.Err != nil || len(r.Accounts) != 1 {
			t.Errorf("%s: %s, accounts %v", r.Recipient, replyOf(r), r.Accounts)
		}
	}
	if n := f.st.Stats().Commits - before; n != 1 {
		t.Errorf("%d commits for three recipients, want 1", n)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		msgs := f.list(t, u, "INBOX")
		if len(msgs) != 1 || msgs[0].Meta.Subject != "one commit" {
			t.Errorf("%s's INBOX: %+v", u, msgs)
		}
	}
}

func TestDeliverResolution(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	id := func(u string) int64 { return f.acct[u].ID }
	rcpts := []string{
		"info@example.test",        // alias: alice, bob
		"ALICE@example.test",       // alice again: no second copy
		"alice+tag@example.test",   // subaddress: alice again
		"team@example.test",        // group: alice, carol
		"whoever@catch.test",       // catch-all: bob@catch.test
		"fwd@example.test",         // remote only
		"news@example.test",        // list: carol and a remote member
		"nobody@example.test",      // unknown
		"someone@elsewhere.test",   // not local
		"not an address",           // syntax
		"a@b@example.test",         // syntax
		"<alice@example.test>",     // angle brackets: syntax
		"bob@example.test",         // already reached through info@
		"nobody+tag@example.test",  // unknown with a tag
		"Whoever+Tag@CATCH.test",   // catch-all, any case
		"info+tagged@example.test", // alias with a tag
		"carol+x+y@example.test",   // the separator twice
		"\"alice\"@example.test",   // quoted local part
		"info@example.test",        // a repeated recipient gets its own result
	}
	res := deliver(t, d, Request{Sender: "s@remote.test", Raw: testMessage("resolution"), Recipients: rcpts})
	want := map[string]struct {
		reply    string
		accounts []int64
		forward  []string
	}{
		"info@example.test":        {"ok", []int64{id("alice"), id("bob")}, nil},
		"ALICE@example.test":       {"ok", []int64{id("alice")}, nil},
		"alice+tag@example.test":   {"ok", []int64{id("alice")}, nil},
		"team@example.test":        {"ok", []int64{id("alice"), id("carol")}, nil},
		"whoever@catch.test":       {"ok", []int64{id("catch")}, nil},
		"fwd@example.test":         {"ok", nil, []string{"someone@remote.test"}},
		"news@example.test":        {"ok", []int64{id("carol")}, []string{"ext@remote.test"}},
		"nobody@example.test":      {"550 5.1.1", nil, nil},
		"someone@elsewhere.test":   {"550 5.1.1", nil, nil},
		"not an address":           {"553 5.1.3", nil, nil},
		"a@b@example.test":         {"553 5.1.3", nil, nil},
		"<alice@example.test>":     {"553 5.1.3", nil, nil},
		"bob@example.test":         {"ok", []int64{id("bob")}, nil},
		"nobody+tag@example.test":  {"550 5.1.1", nil, nil},
		"Whoever+Tag@CATCH.test":   {"ok", []int64{id("catch")}, nil},
		"info+tagged@example.test": {"ok", []int64{id("alice"), id("bob")}, nil},
	}
	for _, r := range res {
		w, ok := want[r.Recipient]
		if !ok {
			// The rest: delivered somewhere or refused, never a
			// temporary failure.
			if r.Err != nil && r.Err.Temporary() {
				t.Errorf("%s: %s", r.Recipient, replyOf(r))
			}
			if r.Err == nil && len(r.Accounts) == 0 && len(r.Forward) == 0 {
				t.Errorf("%s: no error but reached nothing", r.Recipient)
			}
			continue
		}
		if replyOf(r) != w.reply || !slices.Equal(r.Accounts, w.accounts) || !slices.Equal(r.Forward, w.forward) {
			t.Errorf("%s: %s, accounts %v, forward %v; want %s, %v, %v", r.Recipient, replyOf(r), r.Accounts, r.Forward,
				w.reply, w.accounts, w.forward)
		}
		if w.reply == "550 5.1.1" && r.Err.ExitCode() != reply.ExitNoUser {
			t.Errorf("%s: exit code %d, want 67", r.Recipient, r.Err.ExitCode())
		}
	}
	// One copy per account, however many recipients reached it.
	for _, u := range []string{"alice", "bob", "carol", "catch"} {
		if n := len(f.list(t, u, "INBOX")); n != 1 {
			t.Errorf("%s has %d messages, want 1", u, n)
		}
	}
}

func TestDeliverQuota(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   config.Deliver
		reply string
		exit  int
	}{
		{"default", config.Deliver{}, "452 4.2.2", reply.ExitTempFail},
		{"temporary", config.Deliver{QuotaExceeded: "temporary"}, "452 4.2.2", reply.ExitTempFail},
		{"permanent", config.Deliver{QuotaExceeded: "permanent"}, "552 5.2.2", reply.ExitUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			d := f.deliverer(tc.cfg)
			deliver(t, d, Request{Raw: testMessage("first"), Recipients: []string{"carol@example.test"}})
			f.setQuota(t, "carol", 1)
			res := deliver(t, d, Request{Raw: testMessage("second"),
				Recipients: []string{"alice@example.test", "carol@example.test", "bob@example.test"}})
			if got := []string{replyOf(res[0]), replyOf(res[1]), replyOf(res[2])}; !slices.Equal(got, []string{"ok", tc.reply, "ok"}) {
				t.Fatalf("replies %v, want ok, %s, ok", got, tc.reply)
			}
			if res[1].Err.ExitCode() != tc.exit {
				t.Errorf("exit code %d, want %d", res[1].Err.ExitCode(), tc.exit)
			}
			if !errors.Is(res[1].Err, store.ErrQuotaExceeded) {
				t.Errorf("cause %v, want ErrQuotaExceeded", res[1].Err.Err)
			}
			for u, n := range map[string]int{"alice": 1, "bob": 1, "carol": 1} {
				if got := len(f.list(t, u, "INBOX")); got != n {
					t.Errorf("%s has %d messages, want %d", u, got, n)
				}
			}
			usage, err := f.st.AccountUsage(context.Background(), f.acct["carol"].ID)
			if err != nil || usage.Messages != 1 {
				t.Errorf("carol's usage %+v, %v: want 1 message (nothing half-written)", usage, err)
			}
			// A group with one full member: the others get it and the
			// group address does not fail.
			res = deliver(t, d, Request{Raw: testMessage("third"), Recipients: []string{"team@example.test"}})
			if res[0].Err != nil || !slices.Equal(res[0].Accounts, []int64{f.acct["alice"].ID}) {
				t.Errorf("team: %s, accounts %v; want ok for alice only", replyOf(res[0]), res[0].Accounts)
			}
			// Only the full member: the failure is the recipient's.
			res = deliver(t, d, Request{Raw: testMessage("fourth"), Recipients: []string{"carol+x@example.test"}})
			if replyOf(res[0]) != tc.reply {
				t.Errorf("carol+x: %s, want %s", replyOf(res[0]), tc.reply)
			}
		})
	}
}

func TestDeliverMailboxAndFlags(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	for _, tc := range []struct {
		mailbox, want string
	}{
		{"", "INBOX"}, {"inbox", "INBOX"}, {"Archive", "Archive"}, {"No/Such", "INBOX"},
	} {
		before := len(f.list(t, "alice", tc.want))
		res := deliver(t, d, Request{Raw: testMessage("to:" + tc.mailbox), Recipients: []string{"alice@example.test"},
			Mailbox: tc.mailbox, Flags: []string{`\Seen`, "$Label1"}})
		if res[0].Err != nil {
			t.Fatalf("mailbox %q: %s", tc.mailbox, replyOf(res[0]))
		}
		msgs := f.list(t, "alice", tc.want)
		if len(msgs) != before+1 {
			t.Fatalf("mailbox %q: %s has %d messages, want %d", tc.mailbox, tc.want, len(msgs), before+1)
		}
		if m := msgs[len(msgs)-1]; !slices.Equal(m.Flags, []string{"$Label1", `\Seen`}) || m.Meta.Subject != "to:"+tc.mailbox {
			t.Errorf("mailbox %q: stored %q with flags %v", tc.mailbox, m.Meta.Subject, m.Flags)
		}
	}
	for _, bad := range []string{`\Recent`, "two words", "", "a(b", `\Whatever`} {
		_, err := d.Deliver(context.Background(), Request{Raw: testMessage("x"), Recipients: []string{"alice@example.test"},
			Flags: []string{bad}})
		if !errors.Is(err, ErrInvalidFlag) {
			t.Errorf("flag %q: err %v, want ErrInvalidFlag", bad, err)
		}
	}
}

func TestDeliverReturnPath(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	ctx := context.Background()
	for _, tc := range []struct{ sender, want string }{
		{"s@remote.test", "Return-Path: <s@remote.test>\r\n"},
		{"", "Return-Path: <>\r\n"},
	} {
		raw := testMessage("rp:" + tc.sender)
		parsed := message.Parse(raw) // must not be used with the header added
		res := deliver(t, d, Request{Sender: tc.sender, Raw: raw, Parsed: parsed, AddReturnPath: true,
			Recipients: []string{"bob@example.test"}})
		if res[0].Err != nil {
			t.Fatal(replyOf(res[0]))
		}
		msgs := f.list(t, "bob", "INBOX")
		m := msgs[len(msgs)-1]
		blob, err := f.st.ReadBlob(ctx, m.BlobID, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(blob, append([]byte(tc.want), raw...)) {
			t.Errorf("stored %q, want Return-Path then the message", blob)
		}
		p, err := message.Decode(m.Meta.Structure)
		if err != nil {
			t.Fatal(err)
		}
		if body := blob[p.Root.BodyStart:p.Root.BodyEnd]; string(body) != "Hello.\r\n" {
			t.Errorf("structure's body is %q: offsets do not fit the stored message", body)
		}
		if m.Size != int64(len(blob)) || m.Meta.Subject != "rp:"+tc.sender {
			t.Errorf("size %d subject %q", m.Size, m.Meta.Subject)
		}
	}
	// Without AddReturnPath the message is stored as given.
	raw := testMessage("as is")
	deliver(t, d, Request{Sender: "s@remote.test", Raw: raw, Recipients: []string{"carol@example.test"}})
	m := f.list(t, "carol", "INBOX")[0]
	if blob, _ := f.st.ReadBlob(ctx, m.BlobID, 0, -1); !bytes.Equal(blob, raw) {
		t.Errorf("stored %q, want %q", blob, raw)
	}
	for _, bad := range []string{"a\r\nX-Injected: yes", "a b@c", "<a@b>"} {
		if _, err := d.Deliver(ctx, Request{Sender: bad, Raw: raw, AddReturnPath: true,
			Recipients: []string{"carol@example.test"}}); !errors.Is(err, ErrInvalidSender) {
			t.Errorf("sender %q: err %v, want ErrInvalidSender", bad, err)
		}
	}
}

func TestDeliverFilters(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	var mu sync.Mutex
	var seen []string
	d.AddFilter(func(ctx context.Context, dl *Delivery) error {
		mu.Lock()
		seen = append(seen, dl.Account.Address+" via "+dl.Recipient+" from "+dl.Sender)
		mu.Unlock()
		switch dl.Account.Address {
		case "alice@example.test":
			dl.Mailbox, dl.Flags = "Junk", append(slices.Clone(dl.Flags), store.KeywordJunk)
		case "bob@example.test":
			dl.Discard = true
		case "carol@example.test":
			return reply.New(550, "5.7.1", "sieve", "rejected by the recipient's script")
		case "bob@catch.test":
			dl.Raw = append([]byte("X-Filtered: yes\r\n"), dl.Raw...)
			dl.Parsed = nil
		}
		return nil
	})
	// A second filter is not reached for discarded messages.
	d.AddFilter(func(ctx context.Context, dl *Delivery) error {
		if dl.Account.Address == "bob@example.test" {
			t.Error("filter ran after a discard")
		}
		return nil
	})
	res := deliver(t, d, Request{Sender: "s@remote.test", Raw: testMessage("filtered"),
		Recipients: []string{"alice@example.test", "bob@example.test", "carol@example.test", "x@catch.test"}})
	if got := []string{replyOf(res[0]), replyOf(res[1]), replyOf(res[2]), replyOf(res[3])}; !slices.Equal(got,
		[]string{"ok", "ok", "550 5.7.1", "ok"}) {
		t.Errorf("replies %v", got)
	}
	if len(seen) != 4 || seen[0] != "alice@example.test via alice@example.test from s@remote.test" {
		t.Errorf("filter saw %q", seen)
	}
	if junk := f.list(t, "alice", "Junk"); len(junk) != 1 || !slices.Contains(junk[0].Flags, store.KeywordJunk) {
		t.Errorf("alice's Junk: %+v", junk)
	}
	if n := len(f.list(t, "bob", "INBOX")) + len(f.list(t, "carol", "INBOX")); n != 0 {
		t.Errorf("%d messages stored for the discarded and the rejected", n)
	}
	m := f.list(t, "catch", "INBOX")
	if len(m) != 1 || m[0].Meta.Subject != "filtered" {
		t.Fatalf("catch-all INBOX: %+v", m)
	}
	if blob, _ := f.st.ReadBlob(context.Background(), m[0].BlobID, 0, 17); string(blob) != "X-Filtered: yes\r\n" {
		t.Errorf("filter's bytes not stored: %q", blob)
	}
}

func TestDeliverConcurrent(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	const n = 50
	before := f.st.Stats().Commits
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			res, err := d.Deliver(context.Background(), Request{Sender: "s@remote.test", AddReturnPath: true,
				Raw:        testMessage(fmt.Sprintf("concurrent %d", i)),
				Recipients: []string{"alice@example.test", "info@example.test"}})
			if err != nil {
				errs <- err
				return
			}
			for _, r := range res {
				if r.Err != nil {
					errs <- fmt.Errorf("%d %s: %v", i, r.Recipient, r.Err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, u := range []string{"alice", "bob"} {
		msgs := f.list(t, u, "INBOX")
		if len(msgs) != n {
			t.Fatalf("%s has %d messages, want %d", u, len(msgs), n)
		}
		subjects := map[string]bool{}
		for i, m := range msgs {
			if m.UID != uint32(i+1) {
				t.Errorf("%s: UID %d at %d", u, m.UID, i)
			}
			subjects[m.Meta.Subject] = true
		}
		if len(subjects) != n {
			t.Errorf("%s: %d distinct messages, want %d", u, len(subjects), n)
		}
	}
	t.Logf("%d deliveries in %d commits", n, f.st.Stats().Commits-before)
}

func TestDeliverStoreClosed(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(config.Deliver{})
	// Resolve once so the directory has the answers cached, then break the
	// store: the failure must be temporary, never a bounce.
	deliver(t, d, Request{Raw: testMessage("warm"), Recipients: []string{"alice@example.test", "bob@example.test"}})
	f.st.Close()
	res := deliver(t, d, Request{Raw: testMessage("closed"), Recipients: []string{"alice@example.test", "bob@example.test"}})
	for _, r := range res {
		if replyOf(r) != "451 4.3.0" {
			t.Errorf("%s: %s, want 451 4.3.0", r.Recipient, replyOf(r))
		}
	}
}

func TestToCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"a\r\nb\r\n":      "a\r\nb\r\n",
		"a\nb\n":          "a\r\nb\r\n",
		"a\rb\r":          "a\r\nb\r\n",
		"a\r\n\nb\r\r\n":  "a\r\n\r\nb\r\n\r\n",
		"\n\r":            "\r\n\r\n",
		"no break at all": "no break at all",
	} {
		if got := string(ToCRLF([]byte(in))); got != want {
			t.Errorf("ToCRLF(%q) = %q, want %q", in, got, want)
		}
	}
	clean := []byte("a\r\nb\r\n")
	if out := ToCRLF(clean); &out[0] != &clean[0] {
		t.Error("ToCRLF copied a clean message")
	}
}
