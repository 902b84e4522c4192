package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"gannet/lib/config"
	"gannet/lib/deliver"
	"gannet/lib/directory"
	"gannet/lib/dnstest"
	"gannet/lib/msgauth"
	"gannet/lib/mta"
	"gannet/lib/notify"
	"gannet/lib/smtptest"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// waitFor bounds every wait for a condition in these tests. It is a
// deadline against hangs, not a speed test: under the race detector on a
// loaded 2-core machine the two-worker test needed more than 20 s.
const waitFor = 90 * time.Second

// clock is a test clock: real time plus an offset the test moves on.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time            { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)   { c.offset.Add(int64(d)) }
func (c *clock) since(t time.Time) float64 { return c.Now().Sub(t).Seconds() }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a store with the local domain local.test (accounts alice and
// bob), a DNS server, an SMTP client resolving with it, capture servers
// for the remote domains remote0.test, remote1.test..., and a clock.
type fixture struct {
	t      *testing.T
	st     *sqlite.Store
	dir    *directory.Directory
	dns    *dnstest.Server
	client *mta.Client
	port   int
	clock  *clock
	log    *syncBuffer
	cfg    config.Queued
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: t.TempDir() + "/gannet.db", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.New(st, config.Directory{})
	if _, err := dir.AddDomain(ctx, "local.test"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@local.test", "bob@local.test"} {
		if err := dir.AddAccount(ctx, &store.Account{Address: a, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dir.AddAlias(ctx, "fwd@local.test", []string{"bob@local.test", "far@remote0.test"}); err != nil {
		t.Fatal(err)
	}
	d := dnstest.New(t)
	r, err := msgauth.NewResolver(config.DNS{Resolver: d.Addr(), Timeout: config.Duration{Duration: 2 * time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	client := &mta.Client{Hostname: "mx.local.test", Resolver: r, ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second}
	t.Cleanup(func() { client.Close() })
	cfg := config.Default().Queued
	cfg.RetrySchedule = []config.Duration{{Duration: 2 * time.Minute}, {Duration: 5 * time.Minute}}
	cfg.Workers = 4
	cfg.LeaseTime = config.Duration{Duration: time.Minute}
	return &fixture{t: t, st: st, dir: dir, dns: d, client: client, clock: &clock{}, log: &syncBuffer{}, cfg: cfg}
}

// servers starts capture servers for remote0.test, remote1.test... on
// 127.0.0.2, 127.0.0.3... all on one port (MX records carry no port),
// and points the client at that port.
func (f *fixture) servers(opts ...smtptest.Options) []*smtptest.Server {
	f.t.Helper()
	for range 20 {
		var out []*smtptest.Server
		port := f.port
		var err error
		for i, o := range opts {
			o.Addr = net.JoinHostPort(fmt.Sprintf("127.0.0.%d", i+2), strconv.Itoa(port))
			var s *smtptest.Server
			if s, err = smtptest.Start(o); err != nil {
				break
			}
			port = s.Port()
			out = append(out, s)
		}
		if err == nil {
			for i, s := range out {
				f.t.Cleanup(func() { s.Close() })
				f.dns.Add(
					fmt.Sprintf("remote%d.test. 300 IN MX 10 mx.remote%d.test.", i, i),
					fmt.Sprintf("mx.remote%d.test. 300 IN A 127.0.0.%d", i, i+2),
				)
			}
			f.port = port
			f.client.Port = port
			return out
		}
		for _, s := range out {
			s.Close()
		}
		if f.port != 0 {
			f.t.Fatalf("port %d taken on a loopback address: %v", f.port, err)
		}
	}
	f.t.Fatal("no port free on all loopback addresses")
	return nil
}

// worker returns a worker over the fixture named owner.
func (f *fixture) worker(owner string) *Worker {
	return &Worker{
		Store:        f.st,
		Domains:      f.dir,
		Local:        deliver.New(f.st, f.dir, config.Deliver{}, nil),
		Remote:       f.client,
		Config:       f.cfg,
		Hostname:     "mx.local.test",
		Owner:        owner,
		Log:          slog.New(slog.NewTextHandler(f.log, nil)),
		Now:          f.clock.Now,
		PollInterval: 20 * time.Millisecond,
	}
}

// message is a small message with a Message-ID of its own.
func message(from, id string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <someone@remote0.test>\r\nSubject: test " + id +
		"\r\nMessage-ID: <" + id + "@local.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nHello " + id + ".\r\n")
}

// enqueue queues a message from sender to rcpts (each "addr" or
// "addr NOTIFY=A,B") and returns its ID.
func (f *fixture) enqueue(sender, id string, rcpts ...string) int64 {
	f.t.Helper()
	e := store.NewQueueEntry{Sender: sender, Raw: message(sender, id)}
	for _, r := range rcpts {
		addr, notify, _ := strings.Cut(r, " NOTIFY=")
		q := store.QueueRecipient{Address: addr}
		if notify != "" {
			q.Notify = strings.Split(notify, ",")
		}
		e.Recipients = append(e.Recipients, q)
	}
	ids, err := f.st.Enqueue(context.Background(), []store.NewQueueEntry{e})
	if err != nil {
		f.t.Fatal(err)
	}
	return ids[0]
}

// queue lists the whole queue.
func (f *fixture) queue() []store.QueueEntry {
	f.t.Helper()
	entries, err := f.st.ListQueue(context.Background(), store.QueueFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return entries
}

// raw reads an entry's message.
func (f *fixture) raw(e store.QueueEntry) string {
	f.t.Helper()
	b, err := f.st.ReadBlob(context.Background(), e.BlobID, 0, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// dsns returns the queued DSNs (entries of the null sender) to rcpt.
func (f *fixture) dsns(rcpt string) []store.QueueEntry {
	f.t.Helper()
	var out []store.QueueEntry
	for _, e := range f.queue() {
		if e.Sender == "" && len(e.Recipients) == 1 && e.Recipients[0].Address == rcpt {
			out = append(out, e)
		}
	}
	return out
}

// inbox returns the messages in an account's INBOX.
func (f *fixture) inbox(address string) []string {
	f.t.Helper()
	ctx := context.Background()
	acct, err := f.st.GetAccount(ctx, address)
	if err != nil {
		f.t.Fatal(err)
	}
	mb, err := f.st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		f.t.Fatal(err)
	}
	msgs, err := f.st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: mb.ID})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := f.st.ReadBlob(ctx, m.BlobID, 0, -1)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// runOnce works what is due and returns how many entries it worked.
func (f *fixture) runOnce(w *Worker) int {
	f.t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

func TestRemoteDelivered(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{Chunking: true}, smtptest.Options{})
	id := f.enqueue("alice@local.test", "m1", "x@remote0.test", "y@remote0.test", "z@remote1.test")
	w := f.worker("w1")
	if n := f.runOnce(w); n != 1 {
		t.Fatalf("worked %d entries, want 1", n)
	}
	if q := f.queue(); len(q) != 0 {
		t.Fatalf("queue after delivery: %+v", q)
	}
	tx0, tx1 := srv[0].Transactions(), srv[1].Transactions()
	if len(tx0) != 1 || len(tx0[0].Rcpts) != 2 || !tx0[0].BDAT {
		t.Fatalf("remote0 got %+v, want one BDAT transaction for two recipients", tx0)
	}
	if len(tx1) != 1 || len(tx1[0].Rcpts) != 1 || tx1[0].Rcpts[0].Addr != "z@remote1.test" {
		t.Fatalf("remote1 got %+v", tx1)
	}
	if tx0[0].From != "alice@local.test" || !bytes.Equal(tx1[0].Data, message("alice@local.test", "m1")) {
		t.Errorf("remote1 got from %q data %q", tx1[0].From, tx1[0].Data)
	}
	logs := f.log.String()
	for _, rcpt := range []string{"x@remote0.test", "y@remote0.test"} {
		re := fmt.Sprintf(`msg=queue id=%d to=<%s> relay=mx\.remote0\.test\[127\.0\.0\.2\] delay=\d+\.\d\d attempt=1 status=sent reply="250 `, id, regexp.QuoteMeta(rcpt))
		if !regexp.MustCompile(re).MatchString(logs) {
			t.Errorf("log lacks a line matching %s:\n%s", re, logs)
		}
	}
}

func TestDKIMSigned(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{})
	ctx := context.Background()
	var records []string
	for _, alg := range []string{msgauth.AlgRSASHA256, msgauth.AlgEd25519SHA256} {
		k, err := msgauth.GenerateDKIMKey("local.test", "s"+alg[:3], alg, 2048)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.AddDKIMKey(ctx, &k); err != nil {
			t.Fatal(err)
		}
		name, value, err := msgauth.DNSRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, name+"="+value)
	}
	w := f.worker("w1")
	w.Signer = &StoreSigner{Keys: f.st}
	f.enqueue("alice@local.test", "signed", "x@remote0.test")
	f.enqueue("someone@elsewhere.test", "relayed", "x@remote0.test") // not ours: not signed
	f.runOnce(w)
	txs := srv[0].Transactions()
	if len(txs) != 2 {
		t.Fatalf("got %d transactions, want 2", len(txs))
	}
	for _, tx := range txs {
		signed := tx.From == "alice@local.test"
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(tx.Data), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
			for _, r := range records {
				if n, v, _ := strings.Cut(r, "="); strings.EqualFold(strings.TrimSuffix(n, "."), strings.TrimSuffix(name, ".")) {
					return []string{v}, nil
				}
			}
			return nil, &net.DNSError{Err: "no such name", Name: name, IsNotFound: true}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if !signed {
			if len(vs) != 0 {
				t.Errorf("mail from a remote sender was signed: %+v", vs)
			}
			continue
		}
		if len(vs) != 2 {
			t.Fatalf("%d signatures, want 2 (RSA and Ed25519):\n%s", len(vs), tx.Data)
		}
		for _, v := range vs {
			if v.Err != nil || v.Domain != "local.test" {
				t.Errorf("signature %+v does not verify", v)
			}
		}
	}
}

func TestDeferred(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT {
			return "451 4.7.1 greylisted, come back later"
		}
		return ""
	}})
	id := f.enqueue("alice@local.test", "m1", "x@remote0.test")
	w := f.worker("w1")
	for try, wait := range []time.Duration{2 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		before := f.clock.Now()
		if n := f.runOnce(w); n != 1 {
			t.Fatalf("attempt %d: worked %d entries", try+1, n)
		}
		after := f.clock.Now()
		e, err := f.st.GetQueueEntry(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Attempts != try+1 || e.Recipients[0].Attempts != try+1 || e.Recipients[0].Status != store.RcptPending {
			t.Errorf("attempt %d: entry %+v", try+1, e)
		}
		if e.NextAttempt.Before(before.Add(wait).Truncate(time.Millisecond)) || e.NextAttempt.After(after.Add(wait)) {
			t.Errorf("attempt %d: next attempt %v, want %v after the attempt (%v..%v)", try+1, e.NextAttempt, wait, before, after)
		}
		want := "451 4.7.1 greylisted, come back later (mx.remote0.test[127.0.0.2])"
		if e.LastError != want || e.Recipients[0].LastError != want {
			t.Errorf("last error %q / %q, want %q", e.LastError, e.Recipients[0].LastError, want)
		}
		if e.LeaseOwner != "" {
			t.Errorf("lease kept by %q", e.LeaseOwner)
		}
		if n := f.runOnce(w); n != 0 {
			t.Errorf("attempt %d: the entry was worked again before its time", try+1)
		}
		f.clock.advance(wait)
	}
	if n := len(srv[0].Transactions()); n != 0 {
		t.Errorf("%d transactions", n)
	}
	wantContains(t, "log", f.log.String(), "status=deferred", `reply="451 4.7.1 greylisted, come back later"`)
}

func TestFailedWithDSN(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT && strings.Contains(arg, "bad@") {
			return "550 5.1.1 no such user here"
		}
		return ""
	}})
	id := f.enqueue("alice@local.test", "m1", "good@remote0.test NOTIFY=SUCCESS,FAILURE", "bad@remote0.test", "quiet@remote0.test NOTIFY=NEVER")
	f.enqueue("alice@local.test", "m2", "bad@remote0.test NOTIFY=NEVER")
	w := f.worker("w1")
	f.runOnce(w)
	if _, err := f.st.GetQueueEntry(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("entry %d still queued (%v)", id, err)
	}
	if n := len(srv[0].Transactions()); n != 1 {
		t.Errorf("%d transactions, want 1", n)
	}
	dsns := f.dsns("alice@local.test")
	if len(dsns) != 2 {
		t.Fatalf("%d DSNs queued, want a failure and a success report", len(dsns))
	}
	var failure, success string
	for _, d := range dsns {
		if d.Recipients[0].Notify[0] != "NEVER" {
			t.Errorf("DSN with NOTIFY %v", d.Recipients[0].Notify)
		}
		if raw := f.raw(d); strings.Contains(raw, "Action: failed") {
			failure = raw
		} else {
			success = raw
		}
	}
	wantContains(t, "failure DSN", failure,
		"From: Mail Delivery System <MAILER-DAEMON@mx.local.test>", "To: <alice@local.test>",
		"Subject: Undelivered Mail Returned to Sender", "Final-Recipient: rfc822; bad@remote0.test",
		"Status: 5.1.1", "Remote-MTA: dns; mx.remote0.test", "Diagnostic-Code: smtp; 550 5.1.1 no such user here",
		"Message-ID: <m1@local.test>")
	if strings.Contains(failure, "good@") || strings.Contains(failure, "Final-Recipient: rfc822; quiet@") {
		t.Errorf("failure DSN names more than the failed recipient:\n%s", failure)
	}
	wantContains(t, "success DSN", success, "Final-Recipient: rfc822; good@remote0.test", "Action: relayed", "Status: 2.")
	wantContains(t, "log", f.log.String(), "to=<bad@remote0.test> relay=mx.remote0.test[127.0.0.2]", "status=bounced")

	// The DSNs are delivered to alice, from the null sender.
	f.runOnce(w)
	in := f.inbox("alice@local.test")
	if len(in) != 2 || !strings.HasPrefix(in[0], "Return-Path: <>\r\n") {
		t.Fatalf("alice got %d messages: %q", len(in), in)
	}
	if q := f.queue(); len(q) != 0 {
		t.Errorf("queue left: %+v", q)
	}
}

func TestNullSenderNoDSN(t *testing.T) {
	f := newFixture(t)
	f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT {
			return "550 5.1.1 no such user"
		}
		return ""
	}})
	f.enqueue("", "bounce", "bad@remote0.test")
	f.runOnce(f.worker("w1"))
	if q := f.queue(); len(q) != 0 {
		t.Errorf("queue after a failed message of the null sender: %+v", q)
	}
	wantContains(t, "log", f.log.String(), "status=bounced")
}

func TestAutoSubmittedStillBounces(t *testing.T) {
	f := newFixture(t)
	f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT {
			return "550 5.1.1 no such user"
		}
		return ""
	}})
	raw := append([]byte("Auto-Submitted: auto-replied\r\n"), message("alice@local.test", "auto")...)
	if _, err := f.st.Enqueue(context.Background(), []store.NewQueueEntry{{Sender: "alice@local.test", Raw: raw,
		Recipients: []store.QueueRecipient{{Address: "bad@remote0.test", Notify: []string{"FAILURE", "SUCCESS"}}}}}); err != nil {
		t.Fatal(err)
	}
	f.runOnce(f.worker("w1"))
	if n := len(f.dsns("alice@local.test")); n != 1 {
		t.Errorf("%d DSNs for a failed auto-replied message, want 1", n)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	f.cfg.GiveUpAfter = config.Duration{Duration: time.Hour}
	f.cfg.DelayWarning = config.Duration{}
	f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT {
			return "451 4.3.0 still not ready"
		}
		return ""
	}})
	id := f.enqueue("alice@local.test", "old", "x@remote0.test")
	w := f.worker("w1")
	f.runOnce(w)
	if e, err := f.st.GetQueueEntry(context.Background(), id); err != nil || e.Recipients[0].Status != store.RcptPending {
		t.Fatalf("after the first attempt: %+v %v", e, err)
	}
	f.clock.advance(time.Hour + time.Minute)
	f.runOnce(w)
	if _, err := f.st.GetQueueEntry(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired entry still queued (%v)", err)
	}
	dsns := f.dsns("alice@local.test")
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	wantContains(t, "expiry DSN", f.raw(dsns[0]), "Action: failed", "Status: 4.4.7",
		"Diagnostic-Code: smtp; 451 4.3.0 still not ready", "Final-Recipient: rfc822; x@remote0.test")
	wantContains(t, "log", f.log.String(), "status=expired")
}

func TestDelayNoticeOnce(t *testing.T) {
	f := newFixture(t)
	f.cfg.DelayWarning = config.Duration{Duration: time.Hour}
	f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT {
			return "451 4.3.0 later"
		}
		return ""
	}})
	id := f.enqueue("alice@local.test", "slow", "x@remote0.test", "y@remote0.test NOTIFY=FAILURE")
	w := f.worker("w1")
	f.runOnce(w) // young: no notice
	if n := len(f.dsns("alice@local.test")); n != 0 {
		t.Fatalf("%d DSNs after the first attempt", n)
	}
	for range 3 {
		f.clock.advance(time.Hour)
		f.runOnce(w) // the entry, and then the notice
		f.runOnce(w)
	}
	e, err := f.st.GetQueueEntry(context.Background(), id)
	if err != nil || !e.DelayNotified || e.Attempts != 4 {
		t.Fatalf("entry %+v %v, want 4 attempts and DelayNotified", e, err)
	}
	var notices []string
	for _, m := range f.inbox("alice@local.test") {
		if strings.Contains(m, "Subject: Delayed Mail") {
			notices = append(notices, m)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("%d delay notices, want 1", len(notices))
	}
	wantContains(t, "delay notice", notices[0], "Action: delayed", "Final-Recipient: rfc822; x@remote0.test", "Will-Retry-Until:")
	if strings.Contains(notices[0], "y@remote0.test") {
		t.Errorf("delay notice names y, whose NOTIFY has no DELAY:\n%s", notices[0])
	}
}

// crashingStore loses every UpdateQueueEntry, as a worker killed after its
// deliveries would.
type crashingStore struct{ *sqlite.Store }

func (crashingStore) UpdateQueueEntry(context.Context, *store.QueueEntry, string) error {
	return errors.New("killed")
}

func TestLocalOnceAfterCrash(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{})
	id := f.enqueue("ext@remote0.test", "m1", "alice@local.test", "x@remote0.test")
	crashed := f.worker("crashed")
	crashed.Store = crashingStore{f.st}
	f.runOnce(crashed)
	if in := f.inbox("alice@local.test"); len(in) != 1 {
		t.Fatalf("alice got %d messages in the first attempt", len(in))
	}
	if e, err := f.st.GetQueueEntry(context.Background(), id); err != nil || e.LeaseOwner != "crashed" {
		t.Fatalf("entry after the crash: %+v %v", e, err)
	}
	w := f.worker("w2")
	if n := f.runOnce(w); n != 0 {
		t.Fatalf("an entry leased by a worker was taken before its lease ran out")
	}
	f.clock.advance(f.cfg.LeaseTime.Duration + time.Second)
	if n := f.runOnce(w); n != 1 {
		t.Fatalf("worked %d entries after the lease ran out, want 1", n)
	}
	in := f.inbox("alice@local.test")
	if len(in) != 1 {
		t.Fatalf("alice has %d messages after the repeated attempt, want 1", len(in))
	}
	if !strings.HasPrefix(in[0], "Return-Path: <ext@remote0.test>\r\nFrom: <ext@remote0.test>\r\n") {
		t.Errorf("stored message begins %q", in[0][:min(len(in[0]), 80)])
	}
	// The remote recipient got it twice: the one transaction in flight
	// at the crash.
	if n := len(srv[0].Transactions()); n != 2 {
		t.Errorf("%d remote transactions, want 2", n)
	}
	if q := f.queue(); len(q) != 0 {
		t.Errorf("queue left: %+v", q)
	}
}

func TestTwoWorkers(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{Chunking: true})
	const n = 200
	var batch []store.NewQueueEntry
	for i := range n {
		rcpts := []store.QueueRecipient{{Address: "x@remote0.test"}}
		if i%2 == 0 {
			rcpts = append(rcpts, store.QueueRecipient{Address: "bob@local.test"})
		}
		batch = append(batch, store.NewQueueEntry{Sender: "alice@local.test", Recipients: rcpts,
			Raw: message("alice@local.test", fmt.Sprintf("m%d", i))})
	}
	if _, err := f.st.Enqueue(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, owner := range []string{"w1", "w2"} {
		w := f.worker(owner)
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	eventually(t, "the queue is empty", func() bool { return len(f.queue()) == 0 })
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, tx := range srv[0].Transactions() {
		m := regexp.MustCompile(`Message-ID: <([^>]+)>`).FindSubmatch(tx.Data)
		if m == nil {
			t.Fatalf("no Message-ID in %q", tx.Data)
		}
		seen[string(m[1])]++
	}
	for i := range n {
		if k := seen[fmt.Sprintf("m%d@local.test", i)]; k != 1 {
			t.Errorf("m%d delivered %d times", i, k)
		}
	}
	if k := len(f.inbox("bob@local.test")); k != n/2 {
		t.Errorf("bob has %d messages, want %d", k, n/2)
	}
	logs := f.log.String()
	if strings.Count(logs, "status=sent") != n+n/2 {
		t.Errorf("%d sent lines in the log, want %d", strings.Count(logs, "status=sent"), n+n/2)
	}
}

// Run finds new mail through Wake and the change feed, not only by
// polling: with a poll interval of an hour, mail is delivered at once.
func TestRunWakesOnQueueEvent(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{})
	w := f.worker("w1")
	w.PollInterval = time.Hour
	dir := t.TempDir()
	l, err := notify.Listen(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	defer w.Watch(l)()
	pub, err := notify.NewPublisher(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The first look at the queue happens at once; wait until it did
	// (the prune at start is logged only when it prunes, so wait for
	// a first lease by delivering one entry through Wake).
	f.enqueue("alice@local.test", "first", "x@remote0.test")
	w.Wake()
	eventually(t, "the first message arrives", func() bool { return len(srv[0].Transactions()) == 1 })
	f.enqueue("alice@local.test", "second", "x@remote0.test")
	pub.Publish(notify.Event{AccountID: notify.QueueAccountID})
	eventually(t, "the second message arrives", func() bool { return len(srv[0].Transactions()) == 2 })
}

// A shutdown waits for the attempts in progress up to ShutdownTimeout,
// then interrupts them and saves them: the lease is released and the
// entry is due again at once.
func TestShutdownReleasesLeases(t *testing.T) {
	f := newFixture(t)
	inData := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageDataEnd {
			inData <- struct{}{}
			<-release
		}
		return ""
	}})
	id := f.enqueue("alice@local.test", "stuck", "x@remote0.test")
	w := f.worker("w1")
	w.ShutdownTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-inData:
	case <-time.After(waitFor):
		t.Fatal("the message never reached the end of data")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not return after its context ended")
	}
	e, err := f.st.GetQueueEntry(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if e.LeaseOwner != "" || e.Recipients[0].Status != store.RcptPending || e.NextAttempt.After(f.clock.Now()) {
		t.Errorf("entry after the shutdown: lease %q, recipient %s, next attempt %v", e.LeaseOwner, e.Recipients[0].Status, e.NextAttempt)
	}
}

func TestBounce(t *testing.T) {
	f := newFixture(t)
	f.servers(smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT {
			return "451 4.3.0 later"
		}
		return ""
	}})
	id := f.enqueue("alice@local.test", "m1", "x@remote0.test", "y@remote0.test NOTIFY=NEVER")
	f.runOnce(f.worker("w1"))
	b := &Bouncer{Store: f.st, Hostname: "mx.local.test"}
	dsnID, err := b.Bounce(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetQueueEntry(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bounced entry still queued (%v)", err)
	}
	d, err := f.st.GetQueueEntry(context.Background(), dsnID)
	if err != nil {
		t.Fatal(err)
	}
	raw := f.raw(*d)
	wantContains(t, "DSN", raw, "Final-Recipient: rfc822; x@remote0.test", "Action: failed", "Status: 5.0.0",
		"returned to sender by the administrator", "Message-ID: <m1@local.test>")
	if strings.Contains(raw, "y@remote0.test") {
		t.Errorf("DSN names y, whose NOTIFY is NEVER")
	}
	if _, err := b.Bounce(context.Background(), id, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bouncing a gone entry: %v", err)
	}

	// An entry a worker is delivering is waited for, and left alone when
	// the wait ends first.
	id = f.enqueue("alice@local.test", "m2", "x@remote0.test")
	if _, err := f.st.Lease(context.Background(), "busy", 10, f.clock.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Bounce(ctx, id, "spam"); !errors.Is(err, ErrBusy) {
		t.Errorf("bouncing a leased entry: %v, want ErrBusy", err)
	}
	if e, err := f.st.GetQueueEntry(context.Background(), id); err != nil || e.Status != store.QueueActive {
		t.Errorf("entry after a bounce that gave up: %+v %v", e, err)
	}
}

// A local recipient that is an alias with a remote target is delivered to
// its account and forwarded: the remote target is queued as a new entry
// with the alias as original recipient.
func TestLocalForward(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{})
	f.enqueue("ext@remote0.test", "fw", "fwd@local.test NOTIFY=SUCCESS,FAILURE")
	w := f.worker("w1")
	f.runOnce(w)
	if n := len(f.inbox("bob@local.test")); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
	q := f.queue()
	var fw *store.QueueEntry
	for i := range q {
		if q[i].Sender == "ext@remote0.test" {
			fw = &q[i]
		}
	}
	if fw == nil || len(fw.Recipients) != 1 || fw.Recipients[0].Address != "far@remote0.test" ||
		fw.Recipients[0].ORcpt != "rfc822;fwd@local.test" || strings.Join(fw.Recipients[0].Notify, ",") != "SUCCESS,FAILURE" {
		t.Fatalf("forward entry %+v in queue %+v", fw, q)
	}
	f.runOnce(w)
	txs := srv[0].Transactions()
	var got []string
	for _, tx := range txs {
		for _, r := range tx.Rcpts {
			got = append(got, r.Addr+" "+strings.Join(r.Params, " "))
		}
	}
	// The forward, and the success notices (expanded, then relayed) to
	// the sender at remote0.test.
	want := "far@remote0.test NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;fwd@local.test"
	if !slices.Contains(got, want) {
		t.Errorf("remote0 got recipients %q, want %q among them", got, want)
	}
}
