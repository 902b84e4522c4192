package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"gannet/lib/dnstest"
	"gannet/lib/msgauth"
	"gannet/lib/smtptest"
	"gannet/lib/store"
)

// queuedWait bounds each wait for queued to do something.
const queuedWait = 60 * time.Second

// queuedSite is an smtpd site (example.test, demo@example.test) whose DNS
// server is the test's own, with MX records for remote0.test,
// remote1.test... pointing at capture servers on 127.0.0.2, 127.0.0.3...
// (one port, the [queued] remote_port).
type queuedSite struct {
	*smtpdEnv
	dns    *dnstest.Server
	remote []*smtptest.Server
}

// newQueuedSite starts the capture servers and writes the configuration,
// with extra in its [queued] section.
func newQueuedSite(t *testing.T, extra string, opts ...smtptest.Options) *queuedSite {
	t.Helper()
	dns := dnstest.New(t)
	remote := captureServers(t, opts...)
	for i := range remote {
		dns.Add(fmt.Sprintf("remote%d.test. 300 IN MX 10 mx.remote%d.test.", i, i),
			fmt.Sprintf("mx.remote%d.test. 300 IN A 127.0.0.%d", i, i+2))
	}
	e := newSmtpdEnv(t, fmt.Sprintf("\n[queued]\nremote_port = %d\n%s\n", remote[0].Port(), extra))
	// newSmtpdEnv points the resolver at a DNS server of its own: point
	// it at this one, which has the MX records.
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = regexp.MustCompile(`(?m)^resolver = ".*"$`).ReplaceAll(cfg, []byte(fmt.Sprintf("resolver = %q", dns.Addr())))
	if err := os.WriteFile(e.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return &queuedSite{smtpdEnv: e, dns: dns, remote: remote}
}

// captureServers starts a capture server per option on 127.0.0.2,
// 127.0.0.3... all on one port.
func captureServers(t *testing.T, opts ...smtptest.Options) []*smtptest.Server {
	t.Helper()
	for range 20 {
		var out []*smtptest.Server
		port := 0
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
			for _, s := range out {
				t.Cleanup(func() { s.Close() })
			}
			return out
		}
		for _, s := range out {
			s.Close()
		}
	}
	t.Fatal("no port free on all the loopback addresses")
	return nil
}

// startQueued runs queued with a NOTIFY_SOCKET and waits for READY=1.
func (q *queuedSite) startQueued() *smtpdProc {
	t := q.t
	t.Helper()
	notify := filepath.Join(q.dir, fmt.Sprintf("queued-notify-%d.sock", time.Now().UnixNano()))
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	cmd := exec.Command(filepath.Join(binDir, "queued"), "--config", q.config)
	cmd.Env = append(cleanEnv(), "NOTIFY_SOCKET="+notify)
	p := &smtpdProc{t: t, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("queued log:\n%s", lastLines(p.stderr.String(), 60))
		}
	})
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	for {
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("waiting for queued's READY=1: %v\n%s", err, p.stderr)
		}
		if strings.Contains(string(buf[:n]), "READY=1") {
			return p
		}
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitUntil polls cond until it holds, failing the test after queuedWait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(queuedWait)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queueLen counts the entries in the queue.
func queueLen(t *testing.T, st store.Store) int {
	t.Helper()
	entries, err := st.ListQueue(context.Background(), store.QueueFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

var messageIDRE = regexp.MustCompile(`(?m)^Message-ID: <([^>]+)>\r$`)

// A message submitted with AUTH to a remote domain goes out through
// queued to the domain's MX, signed with the domain's DKIM keys.
func TestQueuedSubmission(t *testing.T) {
	q := newQueuedSite(t, "", smtptest.Options{Chunking: true})
	q.userctl("dkim", "create", smtpdDomain)
	files, addr := q.listeners()
	q.start(files, addr)
	p := q.startQueued()

	c, _ := startTLS(t, dialSMTP(t, addr["submission"]))
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+smtpdUser+"\x00"+smtpdPassword)), "235")
	c.cmd("MAIL FROM:<"+smtpdUser+">", "250")
	c.cmd("RCPT TO:<friend@remote0.test>", "250")
	c.cmd("DATA", "354")
	c.write("From: <" + smtpdUser + ">\r\nTo: <friend@remote0.test>\r\nSubject: out through queued\r\n" +
		"Message-ID: <submitted@example.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nHello, friend.\r\n.\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")

	srv := q.remote[0]
	waitUntil(t, "the message reaches remote0.test's MX", func() bool { return len(srv.Transactions()) > 0 })
	tx := srv.Transactions()[0]
	if tx.From != smtpdUser || len(tx.Rcpts) != 1 || tx.Rcpts[0].Addr != "friend@remote0.test" || !tx.BDAT {
		t.Errorf("transaction %+v", tx)
	}
	if !bytes.Contains(tx.Data, []byte("Subject: out through queued\r\n")) || bytes.Contains(tx.Data, []byte("Return-Path:")) {
		t.Errorf("data as received:\n%s", tx.Data)
	}

	// Both keys userctl made sign it, and the signatures verify against
	// the records userctl would publish.
	st := q.openStore()
	keys, err := st.ListDKIMKeys(context.Background(), smtpdDomain)
	if err != nil || len(keys) != 2 {
		t.Fatalf("DKIM keys: %d, %v", len(keys), err)
	}
	records := map[string]string{}
	for _, k := range keys {
		name, value, err := msgauth.DNSRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		records[strings.TrimSuffix(strings.ToLower(name), ".")] = value
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(tx.Data), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if v, ok := records[strings.TrimSuffix(strings.ToLower(name), ".")]; ok {
			return []string{v}, nil
		}
		return nil, &net.DNSError{Err: "no such name", Name: name, IsNotFound: true}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d DKIM signatures, want 2:\n%s", len(vs), tx.Data)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != smtpdDomain {
			t.Errorf("DKIM signature of %s: %v", v.Domain, v.Err)
		}
	}
	waitUntil(t, "queued logs the delivery", func() bool {
		return strings.Contains(p.stderr.String(), "to=<friend@remote0.test> relay=mx.remote0.test[127.0.0.2]")
	})
	log := p.stderr.String()
	if !regexp.MustCompile(`msg=queue (prog=queued )?id=\d+ to=<friend@remote0\.test> relay=mx\.remote0\.test\[127\.0\.0\.2\] delay=\d+\.\d\d attempt=1 status=sent reply="250 `).MatchString(log) {
		t.Errorf("queued's log lacks the delivery line:\n%s", log)
	}
	if status := p.stop(); status != 0 {
		t.Errorf("queued exit status %d", status)
	}
}

// kill -9 queued while it delivers 1,000 messages; after a restart every
// message is delivered, each local one exactly once, and the remote
// duplicates are no more than the transactions in flight at the kill
// (at most [queued] workers).
func TestQueuedKill9(t *testing.T) {
	const workers = 10
	q := newQueuedSite(t, fmt.Sprintf("workers = %d\nlease_time = \"2s\"\n", workers), smtptest.Options{Chunking: true})
	st := q.openStore()
	const n = 1000
	var batch []store.NewQueueEntry
	local := 0
	for i := range n {
		rcpts := []store.QueueRecipient{{Address: fmt.Sprintf("r%d@remote0.test", i%7)}}
		if i%2 == 0 {
			rcpts = append(rcpts, store.QueueRecipient{Address: smtpdUser})
			local++
		}
		raw := fmt.Sprintf("From: <sender@elsewhere.test>\r\nSubject: load %d\r\nMessage-ID: <load-%d@elsewhere.test>\r\n\r\nbody %d\r\n", i, i, i)
		batch = append(batch, store.NewQueueEntry{Sender: "sender@elsewhere.test", Recipients: rcpts, Raw: []byte(raw)})
	}
	if _, err := st.Enqueue(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	srv := q.remote[0]
	p := q.startQueued()
	waitUntil(t, "a fifth of the messages reach the MX", func() bool { return len(srv.Transactions()) >= n/5 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	atKill := len(srv.Transactions())

	p = q.startQueued()
	waitUntil(t, "the queue is empty", func() bool { return queueLen(t, st) == 0 })
	if status := p.stop(); status != 0 {
		t.Errorf("queued exit status %d", status)
	}

	remote := map[string]int{}
	for _, tx := range srv.Transactions() {
		m := messageIDRE.FindSubmatch(tx.Data)
		if m == nil {
			t.Fatalf("no Message-ID in %q", tx.Data)
		}
		remote[string(m[1])]++
	}
	dups := 0
	for i := range n {
		switch k := remote[fmt.Sprintf("load-%d@elsewhere.test", i)]; {
		case k == 0:
			t.Errorf("message %d never reached the MX", i)
		case k > 1:
			dups += k - 1
		}
	}
	if dups > workers {
		t.Errorf("%d remote duplicates, more than the %d transactions that can be in flight", dups, workers)
	}
	inbox := map[string]int{}
	for _, m := range q.inbox(st) {
		if id := messageIDRE.FindStringSubmatch(m); id != nil {
			inbox[id[1]]++
		}
	}
	for i := 0; i < n; i += 2 {
		if k := inbox[fmt.Sprintf("load-%d@elsewhere.test", i)]; k != 1 {
			t.Errorf("message %d is %d times in the local mailbox, want once", i, k)
		}
	}
	if len(inbox) != local {
		t.Errorf("%d distinct messages in the local mailbox, want %d", len(inbox), local)
	}
	t.Logf("killed after %d of %d remote transactions; %d remote duplicates; %d local deliveries, none twice", atKill, n, dups, local)
}

// queuectl bounce returns a deferred message to its sender, a local
// account, with a DSN that queued delivers into the sender's INBOX.
func TestQueuectlBounce(t *testing.T) {
	q := newQueuedSite(t, "", smtptest.Options{Reply: func(stage smtptest.Stage, arg string) string {
		if stage == smtptest.StageRCPT {
			return "451 4.7.1 greylisted"
		}
		return ""
	}})
	st := q.openStore()
	ids, err := st.Enqueue(context.Background(), []store.NewQueueEntry{{
		Sender:     smtpdUser,
		Recipients: []store.QueueRecipient{{Address: "friend@remote0.test", ORcpt: "rfc822;friend@remote0.test"}},
		Raw:        []byte("From: <" + smtpdUser + ">\r\nSubject: never arrives\r\nMessage-ID: <bounced@example.test>\r\n\r\nbody\r\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	p := q.startQueued()
	waitUntil(t, "the first attempt is deferred", func() bool {
		e, err := st.GetQueueEntry(context.Background(), id)
		return err == nil && e.Attempts == 1 && e.LeaseOwner == ""
	})

	r := run(t, "queuectl", "--config", q.config, "bounce", "--reason", "given up by the postmaster", strconv.FormatInt(id, 10), "999999")
	if r.status != 1 || !strings.Contains(r.stderr, "queuectl: Bounced: 1 message\n") || !strings.Contains(r.stderr, "999999: no such queue entry") {
		t.Errorf("queuectl bounce: status %d, stderr %q; want 1, one bounced and 999999 not found", r.status, r.stderr)
	}
	if _, err := st.GetQueueEntry(context.Background(), id); err == nil {
		t.Error("the bounced message is still queued")
	}
	var dsn string
	waitUntil(t, "the DSN reaches the sender's INBOX", func() bool {
		for _, m := range q.inbox(st) {
			if strings.Contains(m, "Subject: Undelivered Mail Returned to Sender") {
				dsn = m
				return true
			}
		}
		return false
	})
	for _, want := range []string{"Return-Path: <>\r\n", "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>",
		"Original-Recipient: rfc822; friend@remote0.test", "Final-Recipient: rfc822; friend@remote0.test",
		"Action: failed", "Status: 5.0.0", "given up by the postmaster", "Message-ID: <bounced@example.test>"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
	waitUntil(t, "the queue is empty", func() bool { return queueLen(t, st) == 0 })
	if r := run(t, "queuectl", "--config", q.config, "bounce"); r.status != 64 {
		t.Errorf("bounce without IDs: status %d, want 64", r.status)
	}
	if status := p.stop(); status != 0 {
		t.Errorf("queued exit status %d", status)
	}
}
