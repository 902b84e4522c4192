package tests

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"gannet/lib/dnstest"
	"gannet/lib/testca"
)

// The names the ACME tests get certificates for; the test's DNS server
// points them all at 127.0.0.1.
const (
	acmeHTTPName = "mail.example.test"
	acmeALPNName = "imap.example.test"
	acmeDNSName  = "dns.example.test"
	acmeZone     = "example.test."
	tsigKey      = "gannet-acme."
)

// updateDNS is a name server of the test's own for pebble's validations: it
// answers from a dnstest.Server (every name of the zone has A 127.0.0.1)
// and takes RFC 2136 updates of TXT records, signed with TSIG (RFC 8945),
// as a primary server would.
type updateDNS struct {
	t       *testing.T
	records *dnstest.Server
	addr    string
	secret  string // base64
	updates chan string
}

func startUpdateDNS(t *testing.T) *updateDNS {
	t.Helper()
	secret := base64.StdEncoding.EncodeToString([]byte("a TSIG secret for the acme tests"))
	d := &updateDNS{t: t, records: dnstest.New(t), secret: secret, updates: make(chan string, 16)}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	// miekg/dns refuses updates (NOTIMP) unless told otherwise.
	accept := func(h dns.Header) dns.MsgAcceptAction {
		if int(h.Bits>>11)&0xF == dns.OpcodeUpdate {
			return dns.MsgAccept
		}
		return dns.DefaultMsgAcceptFunc(h)
	}
	keys := map[string]string{tsigKey: secret}
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: d, TsigSecret: keys, MsgAcceptFunc: accept},
		{Listener: ln, Handler: d, TsigSecret: keys, MsgAcceptFunc: accept},
	} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return d
}

func (d *updateDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Opcode != dns.OpcodeUpdate {
		q := r.Question
		if len(q) == 1 && q[0].Qtype == dns.TypeA && strings.HasSuffix(strings.ToLower(q[0].Name), "."+acmeZone) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			rr, _ := dns.NewRR(q[0].Name + " 60 IN A 127.0.0.1")
			m.Answer = []dns.RR{rr}
			w.WriteMsg(m)
			return
		}
		if len(q) == 1 && q[0].Qtype == dns.TypeSOA {
			// The zone's SOA, whatever name in it is asked about.
			m := new(dns.Msg)
			m.SetReply(r)
			soa, _ := dns.NewRR(acmeZone + " 60 IN SOA ns." + acmeZone + " hostmaster." + acmeZone + " 1 60 60 60 60")
			if strings.EqualFold(q[0].Name, acmeZone) {
				m.Answer = []dns.RR{soa}
			} else {
				m.Ns = []dns.RR{soa}
			}
			w.WriteMsg(m)
			return
		}
		d.records.ServeDNS(w, r)
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	t := r.IsTsig()
	if t == nil || w.TsigStatus() != nil || len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, acmeZone) {
		m.Rcode = dns.RcodeRefused
		if t != nil {
			m.Rcode = dns.RcodeNotAuth
		}
		w.WriteMsg(m)
		d.updates <- "refused"
		return
	}
	// RFC 2136 section 3.4.2: class IN adds, class NONE deletes one RR.
	for _, rr := range r.Ns {
		h := rr.Header()
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		switch h.Class {
		case dns.ClassINET:
			d.records.Add(fmt.Sprintf("%s 60 IN TXT %q", h.Name, txt.Txt[0]))
			d.updates <- "add " + h.Name
		case dns.ClassNONE, dns.ClassANY:
			d.records.Remove(h.Name, dns.TypeTXT)
			d.updates <- "remove " + h.Name
		}
	}
	m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	w.WriteMsg(m)
}

// pebble is a running pebble (Let's Encrypt's test ACME server).
type pebble struct {
	dir    string // its directory URL
	caFile string // the CA of its own HTTPS listener
	mgmt   string // management address
	client *http.Client
}

// startPebble runs pebble with real validations (PEBBLE_VA_ALWAYS_VALID=0)
// that reach http-01 answers at httpPort and tls-alpn-01 answers at
// tlsPort, resolving names through dnsAddr, and requiring External Account
// Binding with the key eabKID/eabHMAC.
func startPebble(t *testing.T, httpPort, tlsPort, dnsAddr, eabKID, eabHMAC string) *pebble {
	t.Helper()
	bin := needTool(t, "pebble")
	dir := t.TempDir()
	ca := testca.New(t, "pebble's HTTPS CA")
	cert := ca.Issue(t, "localhost")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	certFile := write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	keyFile := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	listen, mgmt := freePort(t), freePort(t)
	_, listenPort, _ := net.SplitHostPort(listen)
	_, mgmtPort, _ := net.SplitHostPort(mgmt)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        mgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       atoi(t, httpPort),
		"tlsPort":                        atoi(t, tlsPort),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": true,
		"externalAccountMACKeys":         map[string]string{eabKID: eabHMAC},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := write("pebble.json", b)
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_VA_NOSLEEP=1",
		"PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("pebble:\n%s", out)
		}
	})
	p := &pebble{
		dir:    "https://localhost:" + listenPort + "/dir",
		caFile: caFile,
		mgmt:   "https://localhost:" + mgmtPort,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := p.client.Get(p.dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-done:
			t.Fatalf("pebble exited:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not ready: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}

// roots returns a pool with pebble's root, from its management interface.
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble's /roots/0 holds no certificate: %q", b)
	}
	return pool
}

// servedCert connects with TLS to addr asking for name and verifying
// against roots, and returns the leaf the server presented.
func servedCert(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// waitServed polls the TLS servers at addrs until each presents, for name,
// a certificate that verifies against roots and has the serial number
// serial (hex, as acmectl show prints it).
func waitServed(t *testing.T, addrs []string, name, serial string, roots *x509.CertPool) {
	t.Helper()
	for _, addr := range addrs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := servedCert(addr, name, roots)
			if err == nil && c.SerialNumber.Text(16) == serial {
				break
			}
			if time.Now().After(deadline) {
				got := fmt.Sprint(err)
				if c != nil {
					got = "serial " + c.SerialNumber.Text(16)
				}
				t.Fatalf("%s does not serve the certificate %s for %s: %s", addr, serial, name, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// acmectl runs acmectl with the environment's configuration.
func (e *smtpdEnv) acmectl(args ...string) result {
	e.t.Helper()
	return run(e.t, "acmectl", append([]string{"--config", e.config}, args...)...)
}

// serialOf returns the serial number acmectl show prints for name.
func (e *smtpdEnv) serialOf(name string) string {
	e.t.Helper()
	r := e.acmectl("show", "--json", name)
	if r.status != 0 {
		e.t.Fatalf("acmectl show %s: %d %s", name, r.status, r.stderr)
	}
	var st struct {
		Serial string `json:"serial"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		e.t.Fatalf("acmectl show --json: %v\n%s", err, r.stdout)
	}
	return st.Serial
}

// TestAcmectlPebble gets certificates from a real pebble with each of the
// three challenges (http-01 answered by acmectl, tls-alpn-01 answered by a
// running imapd, dns-01 through an RFC 2136 update signed with TSIG), checks
// that running smtpd (submissions) and imapd (imaps) serve them by name,
// verified against pebble's root, and that a renewal is served without a
// restart.
func TestAcmectlPebble(t *testing.T) {
	needTool(t, "pebble")
	dnsSrv := startUpdateDNS(t)
	httpAddr := freePort(t)
	_, httpPort, _ := net.SplitHostPort(httpAddr)

	e := newSmtpdEnv(t, "")
	files, addr := e.listeners()
	ifiles, iaddr := e.listenersFor(imapdRoles)
	_, imapsPort, _ := net.SplitHostPort(iaddr["imaps"])
	eabHMAC := base64.RawURLEncoding.EncodeToString([]byte("an EAB MAC key of thirty-two bytes!"))
	peb := startPebble(t, httpPort, imapsPort, dnsSrv.addr, "kid-1", eabHMAC)

	acmeCfg := fmt.Sprintf(`
[acme]
directory_url = %q
ca_file = %q
email = "postmaster@example.test"
http01_address = %q
dns01_server = %q
dns01_tsig_key = "gannet-acme"
dns01_tsig_secret = "${env:GANNET_TEST_TSIG}"
`, peb.dir, peb.caFile, httpAddr, dnsSrv.addr)
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(acmeCfg)
	f.Close()
	t.Setenv("GANNET_TEST_TSIG", dnsSrv.secret)

	e.start(files, addr)
	e.startDaemon("imapd", imapdRoles, ifiles, iaddr)
	roots := peb.roots(t)
	tlsAddrs := []string{addr["submissions"], iaddr["imaps"]}

	// Without a binding the CA refuses the account; with one it takes it.
	if r := e.acmectl("issue", acmeHTTPName); r.status != 1 || !strings.Contains(r.stderr, "account create") {
		t.Errorf("issue without an account: %d %q", r.status, r.stderr)
	}
	if r := e.acmectl("account", "create"); r.status != 1 || !strings.Contains(strings.ToLower(r.stderr), "external account") {
		t.Errorf("account create without EAB: %d %q", r.status, r.stderr)
	}
	r := e.acmectl("account", "create", "--eab-kid", "kid-1", "--eab-hmac", eabHMAC)
	if r.status != 0 || !strings.Contains(r.stdout, "account https://localhost:") {
		t.Fatalf("account create: %d\n%s%s", r.status, r.stdout, r.stderr)
	}

	issue := func(challenge, name string) string {
		t.Helper()
		r := e.acmectl("issue", "--challenge", challenge, name)
		if r.status != 0 || !strings.HasPrefix(r.stdout, "issued "+name+": ") {
			t.Fatalf("issue --challenge %s %s: %d\n%s%s", challenge, name, r.status, r.stdout, r.stderr)
		}
		return e.serialOf(name)
	}
	issued := map[string]string{
		acmeHTTPName: issue("http-01", acmeHTTPName),
		acmeALPNName: issue("tls-alpn-01", acmeALPNName),
		acmeDNSName:  issue("dns-01", acmeDNSName),
	}
	// The daemons look at the store at most every few seconds: wait for
	// the three together.
	for name, serial := range issued {
		waitServed(t, tlsAddrs, name, serial, roots)
	}
	// The challenge's TXT record went in signed and came out again.
	var updates []string
	for len(dnsSrv.updates) > 0 {
		updates = append(updates, <-dnsSrv.updates)
	}
	if want := []string{"add _acme-challenge.dns.example.test.", "remove _acme-challenge.dns.example.test."}; strings.Join(updates, ",") != strings.Join(want, ",") {
		t.Errorf("DNS updates %q, want %q", updates, want)
	}

	r = e.acmectl("list")
	for _, name := range []string{acmeHTTPName, acmeALPNName, acmeDNSName} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("acmectl list does not show %s:\n%s", name, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "acme-tls-alpn") {
		t.Errorf("acmectl list shows a challenge certificate:\n%s", r.stdout)
	}

	// Nothing is due yet (pebble's certificates live for years).
	r = e.acmectl("renew")
	if r.status != 0 || strings.Count(r.stdout, "not due until") != 3 {
		t.Fatalf("renew with nothing due: %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	// Due after a billionth of their lifetime: renew renews them all, each
	// with the configured challenge (http-01), and the running daemons
	// serve the new ones.
	b, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, append(b, []byte("renew_fraction = 0.000000001\n")...), 0o600)
	r = e.acmectl("renew")
	if r.status != 0 || strings.Count(r.stdout, ": renewed, valid until") != 3 {
		t.Fatalf("renew: %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	for n, old := range issued {
		serial := e.serialOf(n)
		if serial == old {
			t.Errorf("%s: same serial after renewal", n)
		}
		waitServed(t, tlsAddrs, n, serial, roots)
	}

}
