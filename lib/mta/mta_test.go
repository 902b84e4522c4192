package mta_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/dnstest"
	"gannet/lib/msgauth"
	"gannet/lib/mta"
	"gannet/lib/smtptest"
)

const testMsg = "From: a@example.org\r\nTo: b@example.test\r\nSubject: test\r\n\r\nHello\r\n"

// env is a DNS server, a resolver asking it, and a client resolving with it.
type env struct {
	t    *testing.T
	dns  *dnstest.Server
	r    *msgauth.Resolver
	port int
	c    *mta.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := dnstest.New(t)
	r, err := msgauth.NewResolver(config.DNS{Resolver: d.Addr(), Timeout: config.Duration{Duration: 2 * time.Second}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dns: d, r: r}
	e.c = &mta.Client{
		Hostname:       "client.example.org",
		Resolver:       r,
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 10 * time.Second,
	}
	t.Cleanup(func() { e.c.Close() })
	return e
}

// servers starts capture servers on 127.0.0.2, 127.0.0.3... all on one
// port (MX records cannot carry ports), and points the client at it.
func (e *env) servers(opts ...smtptest.Options) []*smtptest.Server {
	e.t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		var out []*smtptest.Server
		port := e.port
		var err error
		for i, o := range opts {
			o.Addr = net.JoinHostPort(ip(i), strconv.Itoa(port))
			var s *smtptest.Server
			if s, err = smtptest.Start(o); err != nil {
				break
			}
			port = s.Port()
			out = append(out, s)
		}
		if err == nil {
			for _, s := range out {
				e.t.Cleanup(func() { s.Close() })
			}
			e.port = port
			e.c.Port = port
			return out
		}
		for _, s := range out {
			s.Close()
		}
		if e.port != 0 {
			e.t.Fatalf("port %d taken on a loopback address: %v", e.port, err)
		}
	}
	e.t.Fatal("no port free on all loopback addresses")
	return nil
}

// ip returns the loopback address of the i-th server.
func ip(i int) string { return fmt.Sprintf("127.0.0.%d", i+2) }

func msg(rcpts ...string) *mta.Message {
	m := &mta.Message{Sender: "a@example.org", Data: []byte(testMsg)}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, mta.Recipient{Address: r})
	}
	return m
}

func deliver(t *testing.T, c *mta.Client, domain string, m *mta.Message) []mta.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := c.Deliver(ctx, domain, m)
	if len(res) != len(m.Recipients) {
		t.Fatalf("%d results for %d recipients", len(res), len(m.Recipients))
	}
	return res
}

func wantDelivered(t *testing.T, res []mta.Result, host string) {
	t.Helper()
	for _, r := range res {
		if !r.Delivered() || (host != "" && r.Host != host) {
			t.Errorf("%s: %d %s %q via %q, want delivered via %q", r.Recipient, r.Code, r.Enhanced, r.Text, r.Host, host)
		}
	}
}

func wantFailed(t *testing.T, r mta.Result, code int, enhanced string, permanent bool) {
	t.Helper()
	if r.Code != code || r.Enhanced != enhanced || r.Permanent != permanent {
		t.Errorf("%s: got %d %s permanent=%v %q, want %d %s permanent=%v", r.Recipient, r.Code, r.Enhanced, r.Permanent, r.Text, code, enhanced, permanent)
	}
}

// MX hosts are tried by preference; a refused connection and a 421
// greeting send the client on to the next one.
func TestMXOrderAndFallback(t *testing.T) {
	e := newEnv(t)
	s := e.servers(
		smtptest.Options{Hostname: "mx2", Reply: func(st smtptest.Stage, _ string) string {
			if st == smtptest.StageGreeting {
				return "421 4.3.2 too busy"
			}
			return ""
		}},
		smtptest.Options{Hostname: "mx3"},
		smtptest.Options{Hostname: "mx4"},
	)
	e.dns.Add(
		"example.test. 300 IN MX 30 mx3.example.test.",
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 40 mx4.example.test.",
		"mx1.example.test. 300 IN A 127.0.0.20", // nothing listens there
		"mx2.example.test. 300 IN A "+ip(0),
		"mx3.example.test. 300 IN A "+ip(1),
		"mx4.example.test. 300 IN A "+ip(2),
	)
	res := deliver(t, e.c, "example.test", msg("b@example.test", "c@example.test"))
	wantDelivered(t, res, "mx3.example.test["+ip(1)+"]")
	if s[0].Conns() != 1 || len(s[0].Transactions()) != 0 {
		t.Errorf("mx2: %d connections, %d transactions; want 1, 0", s[0].Conns(), len(s[0].Transactions()))
	}
	txs := s[1].Transactions()
	if len(txs) != 1 || len(txs[0].Rcpts) != 2 || string(txs[0].Data) != testMsg {
		t.Fatalf("mx3 transactions: %+v", txs)
	}
	if s[2].Conns() != 0 {
		t.Errorf("mx4 was tried")
	}
}

// All hosts unreachable: a temporary failure with the last error.
func TestAllHostsDown(t *testing.T) {
	e := newEnv(t)
	e.servers(smtptest.Options{})
	e.dns.Add(
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"mx1.example.test. 300 IN A 127.0.0.20",
		"mx2.example.test. 300 IN A 127.0.0.21",
	)
	res := deliver(t, e.c, "example.test", msg("b@example.test"))
	wantFailed(t, res[0], 451, "4.4.1", false)
	if !strings.Contains(res[0].Text, "mx2.example.test[127.0.0.21]") {
		t.Errorf("text %q does not name the last host", res[0].Text)
	}
}

// Equal preferences are shuffled (RFC 5321 section 5.1).
func TestMXShuffle(t *testing.T) {
	e := newEnv(t)
	e.c.IdleTimeout = -1 // a new connection each time
	s := e.servers(smtptest.Options{}, smtptest.Options{})
	e.dns.Add(
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 10 mx2.example.test.",
		"mx1.example.test. 300 IN A "+ip(0),
		"mx2.example.test. 300 IN A "+ip(1),
	)
	for range 40 {
		wantDelivered(t, deliver(t, e.c, "example.test", msg("b@example.test")), "")
	}
	if s[0].Conns() == 0 || s[1].Conns() == 0 {
		t.Errorf("connections %d and %d: equal preferences not shuffled", s[0].Conns(), s[1].Conns())
	}
}

// No MX records: the domain's own address (RFC 5321 section 5.1).
func TestImplicitMX(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{})
	e.dns.Add("example.test. 300 IN A " + ip(0))
	res := deliver(t, e.c, "example.test", msg("b@example.test"))
	wantDelivered(t, res, "example.test["+ip(0)+"]")
	if len(s[0].Transactions()) != 1 {
		t.Fatal("no transaction")
	}
}

func TestNullMX(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{})
	e.dns.Add("example.test. 300 IN MX 0 .", "example.test. 300 IN A "+ip(0))
	res := deliver(t, e.c, "example.test", msg("b@example.test"))
	wantFailed(t, res[0], 556, "5.1.10", true)
	if s[0].Conns() != 0 {
		t.Error("connected despite the null MX")
	}
}

func TestNXDOMAIN(t *testing.T) {
	e := newEnv(t)
	e.dns.Add("other.test. 300 IN A 127.0.0.1")
	res := deliver(t, e.c, "nowhere.test", msg("b@nowhere.test"))
	wantFailed(t, res[0], 550, "5.1.2", true)

	// A domain that exists without MX or address records.
	e.dns.Add(`empty.test. 300 IN TXT "v=spf1 -all"`)
	res = deliver(t, e.c, "empty.test", msg("b@empty.test"))
	wantFailed(t, res[0], 550, "5.4.4", true)

	// A DNS failure is temporary.
	e.dns.Fail("broken.test", 2) // SERVFAIL
	res = deliver(t, e.c, "broken.test", msg("b@broken.test"))
	wantFailed(t, res[0], 451, "4.4.3", false)
}

// Each recipient gets its own reply; 4xx is temporary, 5xx permanent.
func TestRecipientReplies(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			e := newEnv(t)
			s := e.servers(smtptest.Options{NoPipelining: !pipelining, Reply: func(st smtptest.Stage, arg string) string {
				switch {
				case st == smtptest.StageRCPT && arg == "busy@example.test":
					return "451 4.2.1 mailbox busy"
				case st == smtptest.StageRCPT && arg == "nobody@example.test":
					return "550 5.1.1 no such user"
				}
				return ""
			}})
			e.dns.Add("example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0))
			res := deliver(t, e.c, "example.test", msg("b@example.test", "busy@example.test", "nobody@example.test"))
			wantDelivered(t, res[:1], "mx.example.test["+ip(0)+"]")
			wantFailed(t, res[1], 451, "4.2.1", false)
			wantFailed(t, res[2], 550, "5.1.1", true)
			if res[2].Text != "no such user" || res[2].Host == "" {
				t.Errorf("result %+v", res[2])
			}
			txs := s[0].Transactions()
			if len(txs) != 1 || len(txs[0].Rcpts) != 1 || txs[0].Rcpts[0].Addr != "b@example.test" {
				t.Fatalf("transactions %+v", txs)
			}
			if txs[0].Pipelined != pipelining {
				t.Errorf("pipelined = %v, want %v", txs[0].Pipelined, pipelining)
			}
			if errs := s[0].Errors(); len(errs) > 0 {
				t.Errorf("server errors: %v", errs)
			}
		})
	}
}

// Refusals of MAIL, DATA and the end of data apply to every recipient.
func TestTransactionReplies(t *testing.T) {
	cases := []struct {
		stage     smtptest.Stage
		reply     string
		code      int
		enhanced  string
		permanent bool
	}{
		{smtptest.StageMAIL, "550 5.7.1 sender refused", 550, "5.7.1", true},
		{smtptest.StageDATA, "554 5.5.1 no thanks", 554, "5.5.1", true},
		{smtptest.StageDataEnd, "451 4.3.0 try later", 451, "4.3.0", false},
		{smtptest.StageDataEnd, "550 spam", 550, "5.0.0", true},
	}
	for _, chunking := range []bool{false, true} {
		for _, tc := range cases {
			if chunking && tc.stage == smtptest.StageDATA {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/chunking=%v", tc.stage, tc.reply, chunking), func(t *testing.T) {
				e := newEnv(t)
				e.servers(smtptest.Options{Chunking: chunking, Reply: func(st smtptest.Stage, _ string) string {
					if st == tc.stage {
						return tc.reply
					}
					return ""
				}})
				e.dns.Add("example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0))
				res := deliver(t, e.c, "example.test", msg("b@example.test", "c@example.test"))
				for _, r := range res {
					wantFailed(t, r, tc.code, tc.enhanced, tc.permanent)
				}
			})
		}
	}
}

// A 4xx to MAIL sends the message on to the next MX.
func TestMailTempFailureNextHost(t *testing.T) {
	e := newEnv(t)
	s := e.servers(
		smtptest.Options{Reply: func(st smtptest.Stage, _ string) string {
			if st == smtptest.StageMAIL {
				return "451 4.7.1 greylisted"
			}
			return ""
		}},
		smtptest.Options{},
	)
	e.dns.Add(
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"mx1.example.test. 300 IN A "+ip(0),
		"mx2.example.test. 300 IN A "+ip(1),
	)
	res := deliver(t, e.c, "example.test", msg("b@example.test"))
	wantDelivered(t, res, "mx2.example.test["+ip(1)+"]")
	if len(s[1].Transactions()) != 1 {
		t.Fatal("mx2 got no message")
	}
}

func TestHELOFallback(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{NoEHLO: true, Chunking: true})
	e.dns.Add("example.test. 300 IN A " + ip(0))
	m := msg("b@example.test")
	m.Data = []byte("Subject: x\r\n\r\n.hidden\r\n")
	wantDelivered(t, deliver(t, e.c, "example.test", m), "")
	txs := s[0].Transactions()
	if len(txs) != 1 || txs[0].BDAT || len(txs[0].FromParams) != 0 || string(txs[0].Data) != string(m.Data) {
		t.Fatalf("transactions %+v", txs)
	}
}

func TestDomainLiteral(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{})
	res := deliver(t, e.c, "["+ip(0)+"]", msg("b@["+ip(0)+"]"))
	wantDelivered(t, res, "["+ip(0)+"]")
	if len(s[0].Transactions()) != 1 {
		t.Fatal("no transaction")
	}
	res = deliver(t, e.c, "[300.1.2.3]", msg("b@[300.1.2.3]"))
	wantFailed(t, res[0], 550, "5.1.2", true)
}

// MAIL and RCPT carry SIZE, BODY, SMTPUTF8, RET, ENVID, NOTIFY and ORCPT
// when the server offers them, and none when it does not.
func TestParameters(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{}, smtptest.Options{NoDSN: true, No8BitMIME: true})
	e.dns.Add(
		"example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0),
		"plain.test. 300 IN MX 10 mx.plain.test.", "mx.plain.test. 300 IN A "+ip(1),
	)
	m := &mta.Message{
		Sender:   "a@example.org",
		Data:     []byte("Subject: caf\xc3\xa9\r\n\r\nbody\r\n"),
		SMTPUTF8: true, DSNRet: "hdrs", DSNEnvID: "id+1 x",
		Recipients: []mta.Recipient{{Address: "b@example.test", Notify: []string{"success", "FAILURE"}, ORcpt: "rfc822;B@example.test"}},
	}
	wantDelivered(t, deliver(t, e.c, "example.test", m), "")
	tx := s[0].Transactions()[0]
	want := fmt.Sprintf("SIZE=%d BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+20x", len(m.Data))
	if got := strings.Join(tx.FromParams, " "); got != want {
		t.Errorf("MAIL parameters %q, want %q", got, want)
	}
	if got := strings.Join(tx.Rcpts[0].Params, " "); got != "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B@example.test" {
		t.Errorf("RCPT parameters %q", got)
	}

	m.Recipients[0].Address = "b@plain.test"
	m.SMTPUTF8 = false
	wantDelivered(t, deliver(t, e.c, "plain.test", m), "")
	tx = s[1].Transactions()[0]
	if got := strings.Join(tx.FromParams, " "); got != fmt.Sprintf("SIZE=%d SMTPUTF8", len(m.Data)) && got != fmt.Sprintf("SIZE=%d", len(m.Data)) {
		t.Errorf("MAIL parameters %q", got)
	}
	if len(tx.Rcpts[0].Params) != 0 {
		t.Errorf("RCPT parameters %q without DSN", tx.Rcpts[0].Params)
	}
}

// A message that needs SMTPUTF8 does not go to a server without it.
func TestSMTPUTF8Required(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{NoSMTPUTF8: true})
	e.dns.Add("example.test. 300 IN A " + ip(0))
	m := msg("jos\u00e9@example.test")
	m.SMTPUTF8 = true
	res := deliver(t, e.c, "example.test", m)
	wantFailed(t, res[0], 550, "5.6.7", true)
	if len(s[0].Transactions()) != 0 {
		t.Error("delivered anyway")
	}
}

// A message over the server's SIZE is not sent (RFC 1870 section 6).
func TestSizeLimit(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{Size: 10})
	e.dns.Add("example.test. 300 IN A " + ip(0))
	res := deliver(t, e.c, "example.test", msg("b@example.test"))
	wantFailed(t, res[0], 552, "5.3.4", true)
	if len(s[0].Transactions()) != 0 {
		t.Error("sent anyway")
	}
}

func tlsServer(t *testing.T, names ...string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cfg, pool, err := smtptest.SelfSigned(names...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, pool
}

// Opportunistic STARTTLS: any certificate will do; a failed handshake is
// retried in plaintext.
func TestSTARTTLSOpportunistic(t *testing.T) {
	e := newEnv(t)
	cfg, _ := tlsServer(t, "other.name")
	bad, _ := tlsServer(t, "mx2.example.test")
	bad.ClientAuth = tls.RequireAnyClientCert // the handshake fails
	s := e.servers(smtptest.Options{TLS: cfg}, smtptest.Options{TLS: bad})
	e.dns.Add(
		"example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0),
		"two.test. 300 IN MX 10 mx2.example.test.", "mx2.example.test. 300 IN A "+ip(1),
	)
	wantDelivered(t, deliver(t, e.c, "example.test", msg("b@example.test")), "")
	if tx := s[0].Transactions(); len(tx) != 1 || !tx[0].TLS {
		t.Fatalf("transactions %+v, want one over TLS", tx)
	}

	wantDelivered(t, deliver(t, e.c, "two.test", msg("b@two.test")), "")
	if tx := s[1].Transactions(); len(tx) != 1 || tx[0].TLS {
		t.Fatalf("transactions %+v, want one in plaintext", tx)
	}
	if n := s[1].Conns(); n != 2 {
		t.Errorf("%d connections, want 2 (TLS, then plaintext)", n)
	}
}

// REQUIRETLS (RFC 8689) needs a verified certificate and REQUIRETLS
// offered; otherwise the message fails permanently.
func TestRequireTLS(t *testing.T) {
	e := newEnv(t)
	cfg, pool := tlsServer(t, "mx.example.test")
	s := e.servers(
		smtptest.Options{TLS: cfg, RequireTLS: true},
		smtptest.Options{TLS: cfg}, // no REQUIRETLS
	)
	e.dns.Add(
		"example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0),
		"norequire.test. 300 IN MX 10 mx.example.test.",
	)
	m := msg("b@example.test")
	m.RequireTLS = true

	// The certificate cannot be verified: no root for it.
	res := deliver(t, e.c, "example.test", m)
	wantFailed(t, res[0], 550, "5.7.30", true)
	if len(s[0].Transactions()) != 0 {
		t.Fatal("delivered without verified TLS")
	}

	// Verified: delivered, with REQUIRETLS on MAIL.
	e.c.Close()
	e.c.RootCAs = pool
	wantDelivered(t, deliver(t, e.c, "example.test", m), "")
	tx := s[0].Transactions()
	if len(tx) != 1 || !tx[0].TLS || !strings.Contains(strings.Join(tx[0].FromParams, " "), "REQUIRETLS") {
		t.Fatalf("transactions %+v", tx)
	}

	// Verified, but the server does not offer REQUIRETLS.
	e.dns.Remove("mx.example.test", 1)
	e.dns.Add("mx.example.test. 300 IN A " + ip(1))
	e.c.Close()
	res = deliver(t, e.c, "norequire.test", m)
	wantFailed(t, res[0], 550, "5.7.30", true)
	if len(s[1].Transactions()) != 0 {
		t.Fatal("delivered without REQUIRETLS")
	}
}

// MTA-STS enforce: only matching MX hosts, only verified TLS; failures are
// temporary.
func TestMTASTSEnforce(t *testing.T) {
	e := newEnv(t)
	cfg, pool := tlsServer(t, "mx2.example.test")
	s := e.servers(smtptest.Options{}, smtptest.Options{TLS: cfg})
	e.dns.Add(
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"mx1.example.test. 300 IN A "+ip(0),
		"mx2.example.test. 300 IN A "+ip(1),
	)
	policy := &mta.Policy{Mode: "enforce", MX: []string{"*.example.test"}}
	e.c.MTASTS = mta.PolicyFunc(func(ctx context.Context, domain string) (*mta.Policy, error) { return policy, nil })

	// mx1 offers no TLS, mx2 a certificate we cannot verify.
	res := deliver(t, e.c, "example.test", msg("b@example.test"))
	wantFailed(t, res[0], 451, "4.7.5", false)
	if len(s[0].Transactions())+len(s[1].Transactions()) != 0 {
		t.Fatal("delivered despite the policy")
	}

	e.c.RootCAs = pool
	wantDelivered(t, deliver(t, e.c, "example.test", msg("b@example.test")), "mx2.example.test["+ip(1)+"]")

	// No MX host matches.
	policy.MX = []string{"mx.elsewhere.test"}
	res = deliver(t, e.c, "example.test", msg("b@example.test"))
	wantFailed(t, res[0], 451, "4.7.5", false)

	// Testing mode delivers as without a policy.
	policy.Mode = "testing"
	e.c.RootCAs = nil
	wantDelivered(t, deliver(t, e.c, "example.test", msg("b@example.test")), "mx1.example.test["+ip(0)+"]")
}

func TestPolicyMatch(t *testing.T) {
	p := &mta.Policy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "other.example.com": false,
		"mx1.example.net": true, "a.b.example.net": false, "example.net": false,
	} {
		if p.Match(host) != want {
			t.Errorf("Match(%q) = %v", host, !want)
		}
	}
}

// A relay host with AUTH PLAIN over verified STARTTLS.
func TestRelayHostAuth(t *testing.T) {
	e := newEnv(t)
	cfg, pool := tlsServer(t, "relay.example.org")
	s := e.servers(smtptest.Options{TLS: cfg, Auth: map[string]string{"gannet": "s3cret"}})
	e.dns.Add("relay.example.org. 300 IN A " + ip(0))
	e.c.RootCAs = pool
	e.c.RelayHosts = []config.RelayHost{
		{Domains: []string{"other.test"}, Address: "127.0.0.20:25", TLS: "none"},
		{Address: net.JoinHostPort("relay.example.org", strconv.Itoa(e.port)), Username: "gannet", Password: "s3cret"},
	}
	// example.test has no DNS records at all: the relay host takes it.
	res := deliver(t, e.c, "example.test", msg("b@example.test"))
	wantDelivered(t, res, "relay.example.org["+ip(0)+"]")
	tx := s[0].Transactions()
	if len(tx) != 1 || !tx[0].TLS || tx[0].AuthUser != "gannet" {
		t.Fatalf("transactions %+v", tx)
	}
	for _, c := range s[0].Commands() {
		if strings.Contains(c, "PLAIN") {
			t.Errorf("credentials logged: %q", c)
		}
	}

	// A wrong password is a temporary failure.
	e.c.Close()
	e.c.RelayHosts[1].Password = "wrong"
	res = deliver(t, e.c, "example.test", msg("b@example.test"))
	wantFailed(t, res[0], 451, "4.7.8", false)

	// An unverifiable certificate is refused.
	e.c.Close()
	e.c.RelayHosts[1].Password = "s3cret"
	e.c.RootCAs = nil
	res = deliver(t, e.c, "example.test", msg("b@example.test"))
	wantFailed(t, res[0], 451, "4.7.5", false)
	if len(s[0].Transactions()) != 1 {
		t.Error("delivered over unverified TLS")
	}
}

// Two deliveries, one connection: RSET between them, QUIT on Close.
func TestConnectionReuse(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{})
	e.dns.Add("example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0))
	e.dns.Add("example2.test. 300 IN MX 10 mx.example.test.")
	wantDelivered(t, deliver(t, e.c, "example.test", msg("b@example.test")), "")
	wantDelivered(t, deliver(t, e.c, "example.test", msg("c@example.test")), "")
	wantDelivered(t, deliver(t, e.c, "example2.test", msg("c@example2.test")), "")
	if n := s[0].Conns(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	txs := s[0].Transactions()
	if len(txs) != 3 || txs[1].Conn != txs[0].Conn || txs[2].Conn != txs[0].Conn {
		t.Fatalf("transactions %+v", txs)
	}
	rsets := 0
	for _, c := range s[0].Commands() {
		if c == "RSET" {
			rsets++
		}
	}
	if rsets != 2 {
		t.Errorf("%d RSET, want 2", rsets)
	}
	e.c.Close()
	if n := s[0].Quits(); n != 1 {
		t.Errorf("%d QUIT after Close, want 1", n)
	}

	// A pooled connection the server dropped is replaced quietly.
	e.c = &mta.Client{Hostname: "client.example.org", Resolver: e.r, Port: e.port}
	defer e.c.Close()
	wantDelivered(t, deliver(t, e.c, "example.test", msg("d@example.test")), "")
	s[0].Close()
	s = e.servers(smtptest.Options{})
	wantDelivered(t, deliver(t, e.c, "example.test", msg("e@example.test")), "")
	if len(s[0].Transactions()) != 1 || s[0].Conns() != 1 {
		t.Error("not delivered after the pooled connection died")
	}
	wantDelivered(t, deliver(t, e.c, "example.test", msg("f@example.test")), "")
	if len(s[0].Transactions()) != 2 || s[0].Conns() != 1 {
		t.Errorf("%d transactions on %d connections, want 2 on 1", len(s[0].Transactions()), s[0].Conns())
	}
}

// DestinationConcurrency bounds deliveries in progress to one domain.
func TestDestinationConcurrency(t *testing.T) {
	e := newEnv(t)
	e.c.DestinationConcurrency = 1
	hold := make(chan struct{})
	inData := make(chan struct{}, 1)
	e.servers(smtptest.Options{Reply: func(st smtptest.Stage, _ string) string {
		if st == smtptest.StageDataEnd {
			inData <- struct{}{}
			<-hold
		}
		return ""
	}})
	e.dns.Add("example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0))
	done := make(chan []mta.Result)
	go func() { done <- e.c.Deliver(context.Background(), "example.test", msg("b@example.test")) }()
	<-inData // the first delivery holds the only slot

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := e.c.Deliver(ctx, "example.test", msg("c@example.test"))
	wantFailed(t, res[0], 451, "4.4.5", false)
	// Another domain is not held up.
	e.dns.Add("example3.test. 300 IN A 127.0.0.20")
	res = deliver(t, e.c, "example3.test", msg("c@example3.test"))
	wantFailed(t, res[0], 451, "4.4.1", false)

	close(hold)
	wantDelivered(t, <-done, "")
}

// A bad address never reaches the wire.
func TestBadAddresses(t *testing.T) {
	e := newEnv(t)
	s := e.servers(smtptest.Options{})
	e.dns.Add("example.test. 300 IN A " + ip(0))
	res := deliver(t, e.c, "example.test", msg("b@example.test\r\nRCPT TO:<x@y>", "c@example.test"))
	wantFailed(t, res[0], 550, "5.1.3", true)
	wantDelivered(t, res[1:], "")
	m := msg("b@example.test")
	m.Sender = "a@x>\r\nRSET"
	res = deliver(t, e.c, "example.test", m)
	wantFailed(t, res[0], 550, "5.1.7", true)
	if tx := s[0].Transactions(); len(tx) != 1 || len(tx[0].Rcpts) != 1 {
		t.Fatalf("transactions %+v", tx)
	}
}

// smuggleVariants are the end-of-data look-alikes of the 2023 SMTP
// smuggling disclosures.
var smuggleVariants = []string{
	"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\n.\r", "\r.\n", "\r\n.\r",
	"\r\n\x00.\r\n", "\r\n.\x00\r\n",
}

// normalized is what a receiver of DATA gets: every line end CRLF, and a
// CRLF at the end.
func normalized(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, "\r\n"...)
	}
	return b
}

// THE smuggling test: each variant, followed by a second transaction,
// goes through the client to a server with CHUNKING (BDAT: the bytes
// arrive untouched) and to a deliberately lax server without it (DATA:
// the transparency procedure protects it). Each sees exactly one message.
func TestSmuggling(t *testing.T) {
	for _, chunking := range []bool{true, false} {
		e := newEnv(t)
		s := e.servers(smtptest.Options{Chunking: chunking, Lax: !chunking})
		e.dns.Add("example.test. 300 IN MX 10 mx.example.test.", "mx.example.test. 300 IN A "+ip(0))
		for i, v := range smuggleVariants {
			t.Run(fmt.Sprintf("chunking=%v/%q", chunking, v), func(t *testing.T) {
				data := []byte(fmt.Sprintf("Subject: first %d\r\n\r\nfirst", i) + v +
					"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
				m := msg("b@example.test")
				m.Data = data
				before := len(s[0].Transactions())
				wantDelivered(t, deliver(t, e.c, "example.test", m), "")
				txs := s[0].Transactions()[before:]
				if len(txs) != 1 {
					t.Fatalf("%d transactions, want 1: %+v", len(txs), txs)
				}
				tx := txs[0]
				want := data
				if !chunking {
					want = normalized(data)
				}
				if tx.BDAT != chunking || !bytes.Equal(tx.Data, want) {
					t.Errorf("body (BDAT %v):\n got %q\nwant %q", tx.BDAT, tx.Data, want)
				}
				if len(tx.Rcpts) != 1 || tx.Rcpts[0].Addr != "b@example.test" || tx.From != "a@example.org" {
					t.Errorf("envelope %q %+v", tx.From, tx.Rcpts)
				}
			})
		}
		if errs := s[0].Errors(); len(errs) > 0 {
			t.Errorf("server errors: %v", errs)
		}
		for _, c := range s[0].Commands() {
			if strings.Contains(c, "evil") {
				t.Errorf("the server ran a smuggled command: %q", c)
			}
		}
	}
}

// Without the transparency procedure, the lax server would have been
// fooled: the test server really is lax.
func TestLaxServerIsLax(t *testing.T) {
	s := smtptest.New(t, smtptest.Options{Lax: true})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n")
	fmt.Fprintf(c, "first\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n")
	buf := make([]byte, 4096)
	var all []byte
	for !bytes.Contains(all, []byte("221")) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%v after %q", err, all)
		}
		all = append(all, buf[:n]...)
	}
	if n := len(s.Transactions()); n != 2 {
		t.Fatalf("%d transactions: the lax server is not lax", n)
	}
}

// Each address of a host is tried in turn, IPv4 then IPv6.
func TestAddressFallback(t *testing.T) {
	e := newEnv(t)
	e.servers(smtptest.Options{})
	s6, err := smtptest.Start(smtptest.Options{Addr: net.JoinHostPort("::1", strconv.Itoa(e.port))})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer s6.Close()
	e.dns.Add(
		"example.test. 300 IN MX 10 mx.example.test.",
		"mx.example.test. 300 IN A 127.0.0.20", // refused
		"mx.example.test. 300 IN AAAA ::1",
	)
	wantDelivered(t, deliver(t, e.c, "example.test", msg("b@example.test")), "mx.example.test[::1]")
	if len(s6.Transactions()) != 1 {
		t.Fatal("not delivered over IPv6")
	}
}

// A message larger than one chunk goes in several BDAT commands, with and
// without PIPELINING, and arrives byte for byte.
func TestBDATChunks(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		e := newEnv(t)
		s := e.servers(smtptest.Options{Chunking: true, NoPipelining: !pipelining})
		e.dns.Add("example.test. 300 IN A " + ip(0))
		data := bytes.Repeat([]byte("0123456789abcde\n"), 160_000) // 2.4 MiB, bare LFs
		data = append(data, "no final newline\r"...)
		m := msg("b@example.test")
		m.Data = data
		wantDelivered(t, deliver(t, e.c, "example.test", m), "")
		tx := s[0].Transactions()
		if len(tx) != 1 || !tx[0].BDAT || !bytes.Equal(tx[0].Data, data) {
			t.Fatalf("pipelining=%v: message not received intact", pipelining)
		}
		bdats := 0
		for _, c := range s[0].Commands() {
			if strings.HasPrefix(c, "BDAT ") {
				bdats++
			}
		}
		if bdats != 3 {
			t.Errorf("%d BDAT commands, want 3", bdats)
		}
		if errs := s[0].Errors(); len(errs) > 0 {
			t.Errorf("server errors: %v", errs)
		}
	}
}

// A relay host with implicit TLS (port 465 style).
func TestRelayHostImplicitTLS(t *testing.T) {
	e := newEnv(t)
	cfg, pool := tlsServer(t, "relay.example.org")
	s := e.servers(smtptest.Options{TLS: cfg, ImplicitTLS: true, Auth: map[string]string{"u": "p"}})
	e.dns.Add("relay.example.org. 300 IN A " + ip(0))
	e.c.RootCAs = pool
	e.c.RelayHosts = []config.RelayHost{{Address: net.JoinHostPort("relay.example.org", strconv.Itoa(e.port)), TLS: "implicit", Username: "u", Password: "p"}}
	wantDelivered(t, deliver(t, e.c, "example.test", msg("b@example.test")), "")
	if tx := s[0].Transactions(); len(tx) != 1 || !tx[0].TLS || tx[0].AuthUser != "u" {
		t.Fatalf("transactions %+v", tx)
	}
}

// The end of the context ends a delivery at once, wherever it waits; a
// message whose end-of-data reply never came may have been delivered.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	hold := make(chan struct{})
	defer close(hold)
	inData := make(chan struct{}, 1)
	e.servers(smtptest.Options{Reply: func(st smtptest.Stage, _ string) string {
		if st == smtptest.StageDataEnd {
			inData <- struct{}{}
			<-hold
		}
		return ""
	}})
	e.dns.Add("example.test. 300 IN A " + ip(0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []mta.Result)
	go func() { done <- e.c.Deliver(ctx, "example.test", msg("b@example.test")) }()
	<-inData
	cancel()
	res := <-done
	wantFailed(t, res[0], 451, "4.4.2", false)
	if !strings.Contains(res[0].Text, "may have been delivered") {
		t.Errorf("text %q", res[0].Text)
	}
}

// New takes the queued settings, the CA file included.
func TestNew(t *testing.T) {
	q := config.Default().Queued
	c, err := mta.New(q, "mx.example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 25 || c.ConnectTimeout != 30*time.Second || c.DestinationConcurrency != 10 || c.RootCAs != nil {
		t.Errorf("client %+v", c)
	}
	dir := t.TempDir()
	q.CAFile = dir + "/ca.pem"
	if _, err := mta.New(q, "mx.example.org", nil); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("missing CA file: %v", err)
	}
	cfgTLS, _ := tlsServer(t, "x")
	var pemBuf bytes.Buffer
	pem.Encode(&pemBuf, &pem.Block{Type: "CERTIFICATE", Bytes: cfgTLS.Certificates[0].Certificate[0]})
	os.WriteFile(q.CAFile, pemBuf.Bytes(), 0o644)
	if c, err = mta.New(q, "mx.example.org", nil); err != nil || c.RootCAs == nil {
		t.Errorf("CA file: %v", err)
	}
}
