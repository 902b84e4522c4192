package queue

// Tests of what goes on the wire out of the queue: no SMTP smuggling
// through a queued message, and MTA-STS enforced on queued mail.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"gannet/lib/mtasts"
	"gannet/lib/smtptest"
	"gannet/lib/store"
	"gannet/lib/testca"
)

// smuggleVariants are the end-of-data look-alikes of the 2023 SMTP
// smuggling disclosures (bare LF, bare CR, NUL around the dot).
var smuggleVariants = []string{
	"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\n.\r", "\r.\n", "\r\n.\r",
	"\r\n\x00.\r\n", "\r\n.\x00\r\n",
}

// crlfLines is what a receiver of DATA gets for msg: every line end (CRLF,
// bare CR, bare LF) made CRLF, and a CRLF at the end.
func crlfLines(msg []byte) []byte {
	b := bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, "\r\n"...)
	}
	return b
}

var messageID = regexp.MustCompile(`Message-ID: <([^>]+)>`)

// Every smuggling variant, queued through the store API (smtpd would
// refuse the bare line ends; the queue must be safe all the same), goes
// out of the queue to a server with CHUNKING (BDAT: the bytes arrive as
// queued) and to a deliberately lax server without it (DATA: the
// transparency procedure keeps the hidden end of data from ending it).
// Each server sees exactly one transaction per message, none from the
// smuggler, and no DSN is made.
func TestSmugglingThroughQueue(t *testing.T) {
	f := newFixture(t)
	srv := f.servers(smtptest.Options{Chunking: true}, smtptest.Options{Lax: true})
	const sender = "alice@local.test"
	want := map[string][]byte{} // queued message by Message-ID
	var batch []store.NewQueueEntry
	for i, v := range smuggleVariants {
		// The variant inside the body, followed by a second transaction
		// and more commands; and the variant at the very end.
		for _, tail := range []string{
			"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\nmore body after the smuggled message\r\n",
			"",
		} {
			id := fmt.Sprintf("smuggle%d-%d@local.test", i, len(tail))
			raw := []byte("From: <" + sender + ">\r\nTo: <x@remote0.test>, <y@remote1.test>\r\nSubject: smuggling " +
				fmt.Sprintf("%q", v) + "\r\nMessage-ID: <" + id + ">\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nfirst" + v + tail)
			want[id] = raw
			batch = append(batch, store.NewQueueEntry{Sender: sender, Raw: raw,
				Recipients: []store.QueueRecipient{{Address: "x@remote0.test"}, {Address: "y@remote1.test"}}})
		}
	}
	if _, err := f.st.Enqueue(context.Background(), batch); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	w := f.worker("w1")
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	defer stop() // also when the test fails before the worker is stopped
	// Every entry is attempted once (the clock stands still, so a
	// deferred one is not tried again): all of them should be gone.
	eventually(t, "every message was attempted", func() bool {
		for _, e := range f.queue() {
			if e.Attempts == 0 || e.LeaseOwner != "" {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.queue() {
		t.Errorf("entry %d still queued after its attempt: %s", e.ID, e.LastError)
	}

	for i, s := range srv {
		chunking := i == 0
		rcpt := []string{"x@remote0.test", "y@remote1.test"}[i]
		seen := map[string]int{}
		for _, tx := range s.Transactions() {
			if tx.From != sender || len(tx.Rcpts) != 1 || tx.Rcpts[0].Addr != rcpt {
				t.Errorf("remote%d: transaction from %q to %+v, want from %s to %s", i, tx.From, tx.Rcpts, sender, rcpt)
			}
			if tx.BDAT != chunking {
				t.Errorf("remote%d: BDAT %v, want %v", i, tx.BDAT, chunking)
			}
			m := messageID.FindSubmatch(tx.Data)
			if m == nil {
				t.Errorf("remote%d: a message without a Message-ID: %q", i, tx.Data)
				continue
			}
			id := string(m[1])
			seen[id]++
			raw, ok := want[id]
			if !ok {
				t.Errorf("remote%d: a message that was not queued: %q", i, tx.Data)
				continue
			}
			if !chunking {
				raw = crlfLines(raw)
			}
			if !bytes.Equal(tx.Data, raw) {
				t.Errorf("remote%d: %s arrived as\n%q\nwant\n%q", i, id, tx.Data, raw)
			}
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("remote%d: %s arrived %d times, want once", i, id, seen[id])
			}
		}
		for _, c := range s.Commands() {
			if strings.Contains(c, "evil") || strings.Contains(c, "victim") {
				t.Errorf("remote%d ran a smuggled command: %q", i, c)
			}
		}
		if errs := s.Errors(); len(errs) > 0 {
			t.Errorf("remote%d: protocol errors: %v", i, errs)
		}
	}
	logs := f.log.String()
	if n, want := strings.Count(logs, "status=sent"), 2*len(batch); n != want {
		t.Errorf("%d sent lines in the log, want %d:\n%s", n, want, logs)
	}
	if strings.Contains(logs, "dsn=") {
		t.Errorf("DSNs made:\n%s", logs)
	}
	if in := f.inbox(sender); len(in) != 0 {
		t.Errorf("the sender got %d messages, want none: %q", len(in), in)
	}
}

// policyHost serves MTA-STS policies over HTTPS, by Host, with a
// certificate from the test CA.
type policyHost struct {
	srv *httptest.Server

	mu       sync.Mutex
	policies map[string]string // body by host, "mta-sts.example.test"
	requests map[string]int    // by host
}

func newPolicyHost(t *testing.T, ca *testca.CA, domains ...string) *policyHost {
	t.Helper()
	ph := &policyHost{policies: map[string]string{}, requests: map[string]int{}}
	var names []string
	for _, d := range domains {
		names = append(names, "mta-sts."+d)
	}
	ph.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		ph.mu.Lock()
		ph.requests[host]++
		body, ok := ph.policies[host]
		ph.mu.Unlock()
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(body))
	}))
	ph.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, names...)}}
	ph.srv.StartTLS()
	t.Cleanup(ph.srv.Close)
	return ph
}

// set publishes an enforce policy for domain listing mx: the policy file,
// the _mta-sts TXT record and the address of mta-sts.<domain>.
func (ph *policyHost) set(f *fixture, domain string, mx ...string) {
	body := "version: STSv1\r\nmode: enforce\r\n"
	for _, m := range mx {
		body += "mx: " + m + "\r\n"
	}
	body += "max_age: 86400\r\n"
	ph.mu.Lock()
	ph.policies["mta-sts."+domain] = body
	ph.mu.Unlock()
	f.dns.Add(
		`_mta-sts.`+domain+`. 300 IN TXT "v=STSv1; id=20260101T000000;"`,
		"mta-sts."+domain+". 300 IN A 127.0.0.1",
	)
}

func (ph *policyHost) count(domain string) int {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return ph.requests["mta-sts."+domain]
}

// client is an HTTPS client trusting the CA that resolves names with the
// fixture's DNS server and connects to the policy host's port in place
// of 443 (a test cannot have port 443).
func (ph *policyHost) client(f *fixture, ca *testca.CA) *http.Client {
	_, port, _ := net.SplitHostPort(ph.srv.Listener.Addr().String())
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if p != "443" {
				return nil, fmt.Errorf("policy fetch to port %s, want 443", p)
			}
			ips, err := f.client.Resolver.LookupNetIP(ctx, "ip4", host)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort(ips[0].String(), port))
		},
	}}
}

// MTA-STS through the queue: policies fetched over HTTPS into an
// mtasts.Cache, handed to the SMTP client through MTASTSPolicies. In
// enforce mode a queued message is deferred (4.7.5), never sent in
// plain text, when its MX offers no STARTTLS or matches no mx pattern of
// the policy, and is delivered over TLS verified for the MX name.
func TestMTASTSThroughQueue(t *testing.T) {
	f := newFixture(t)
	ca := testca.New(t, "gannet queue test CA")
	// remote0: no STARTTLS; remote1: STARTTLS with a certificate for its
	// MX and for mx2.remote0.test; remote2: STARTTLS, but its policy
	// names another host.
	srv := f.servers(
		smtptest.Options{},
		smtptest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "mx.remote1.test", "mx2.remote0.test")}}},
		smtptest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "mx.remote2.test")}}},
	)
	ph := newPolicyHost(t, ca, "remote0.test", "remote1.test", "remote2.test")
	ph.set(f, "remote0.test", "*.remote0.test")
	ph.set(f, "remote1.test", "mx.remote1.test")
	ph.set(f, "remote2.test", "mx.elsewhere.test")
	cache := mtasts.NewCache(f.client.Resolver.(mtasts.TXTResolver), ph.client(f, ca), t.TempDir())
	cache.Logger = slog.New(slog.NewTextHandler(f.log, nil))
	f.client.MTASTS = MTASTSPolicies(cache)
	f.client.RootCAs = ca.Pool

	plain := f.enqueue("alice@local.test", "plain", "x@remote0.test")
	good := f.enqueue("alice@local.test", "good", "y@remote1.test")
	nomatch := f.enqueue("alice@local.test", "nomatch", "z@remote2.test")
	w := f.worker("w1")
	if n := f.runOnce(w); n != 3 {
		t.Fatalf("worked %d entries, want 3", n)
	}
	for _, d := range []string{"remote0.test", "remote1.test", "remote2.test"} {
		if n := ph.count(d); n != 1 {
			t.Errorf("policy of %s fetched %d times, want 1", d, n)
		}
	}

	// Delivered over TLS to the host that has a certificate for its name.
	if _, err := f.st.GetQueueEntry(context.Background(), good); err == nil {
		t.Errorf("entry to remote1.test still queued")
	}
	if txs := srv[1].Transactions(); len(txs) != 1 || !txs[0].TLS || txs[0].Rcpts[0].Addr != "y@remote1.test" {
		t.Errorf("remote1 got %+v, want one transaction over TLS", txs)
	}

	// Deferred, and nothing sent to the servers that did not qualify.
	deferred := func(id int64, why string) {
		t.Helper()
		e, err := f.st.GetQueueEntry(context.Background(), id)
		if err != nil {
			t.Fatalf("entry %d was not deferred (%s): %v", id, why, err)
		}
		r := e.Recipients[0]
		if r.Status != store.RcptPending || !strings.HasPrefix(r.LastError, "451 4.7.5 ") || !strings.Contains(r.LastError, why) {
			t.Errorf("%s: recipient %s, last error %q; want pending after 451 4.7.5 ... %s", r.Address, r.Status, r.LastError, why)
		}
	}
	deferred(plain, "STARTTLS")
	deferred(nomatch, "matches its MTA-STS policy")
	for _, i := range []int{0, 2} {
		if txs := srv[i].Transactions(); len(txs) != 0 {
			t.Errorf("remote%d got %+v despite the policy", i, txs)
		}
		for _, c := range srv[i].Commands() {
			if strings.HasPrefix(c, "MAIL") {
				t.Errorf("remote%d was sent %q despite the policy", i, c)
			}
		}
	}
	if n := len(f.dsns("alice@local.test")); n != 0 {
		t.Errorf("%d DSNs for deferrals", n)
	}

	// remote0.test moves its MX to a host with a certificate for its
	// name: the retry goes there, over verified TLS, under the cached
	// policy.
	f.dns.Remove("remote0.test.", dns.TypeMX)
	f.dns.Add("remote0.test. 300 IN MX 10 mx2.remote0.test.", "mx2.remote0.test. 300 IN A 127.0.0.3")
	f.clock.advance(f.cfg.RetrySchedule[0].Duration)
	if n := f.runOnce(w); n != 2 {
		t.Fatalf("worked %d entries on retry, want 2", n)
	}
	if _, err := f.st.GetQueueEntry(context.Background(), plain); err == nil {
		t.Errorf("entry to remote0.test still queued after its MX got TLS")
	}
	txs := srv[1].Transactions()
	if len(txs) != 2 || !txs[1].TLS || txs[1].Rcpts[0].Addr != "x@remote0.test" {
		t.Errorf("the TLS server got %+v, want the remote0.test message over TLS", txs)
	}
	deferred(nomatch, "matches its MTA-STS policy")
	if n := len(srv[2].Transactions()); n != 0 {
		t.Errorf("remote2 got %d transactions despite the policy", n)
	}
	if n := ph.count("remote0.test"); n != 1 {
		t.Errorf("policy of remote0.test fetched %d times, want 1 (cached)", n)
	}
	wantContains(t, "log", f.log.String(), "to=<x@remote0.test>", "status=deferred", "status=sent")
}
