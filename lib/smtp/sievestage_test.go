package smtp

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"gannet/lib/config"
)

// sieveHarness runs smtpd with one [[smtpd.sieve]] script per stage given,
// compiled as cmd/smtpd does.
func sieveHarness(t *testing.T, scripts map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	var list []config.SMTPDSieve
	for _, stage := range config.SMTPDSieveStages {
		src, ok := scripts[stage]
		if !ok {
			continue
		}
		path := filepath.Join(dir, stage+".sieve")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		list = append(list, config.SMTPDSieve{Stage: stage, Script: path})
	}
	return newHarness(t, harnessOpts{
		config: func(c *config.Config) { c.SMTPD.Sieve = list },
		server: func(srv *Server) {
			sc, err := CompileStageScripts(srv.Config.SMTPD.Sieve, srv.Config.Path)
			if err != nil {
				t.Fatal(err)
			}
			srv.Sieve = sc
		},
	})
}

// dialNoGreeting connects, over TLS if tlsToo, without reading the
// greeting.
func dialNoGreeting(t *testing.T, addr string, tlsToo bool) *rawClient {
	t.Helper()
	var c net.Conn
	var err error
	if tlsToo {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

// submitClient is an authenticated submissions session as demo.
func submitClient(t *testing.T, h *harness) *gosmtp.Client {
	t.Helper()
	c, err := gosmtp.DialTLS(h.addr[RoleSubmissions], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Auth(sasl.NewPlainClient("", demo, password)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSieveConnectStage(t *testing.T) {
	h := sieveHarness(t, map[string]string{
		StageConnect: `require ["environment", "reject"];
if allof (environment :is "remote-ip" "127.0.0.1",
          environment :is "vnd.gannet.role" ["smtp", "submissions"]) {
	reject "No mail from loopback";
}`,
	})
	// smtp: the refusal replaces the greeting; then the server refuses
	// everything but QUIT (RFC 5321 section 3.1).
	rc := dialNoGreeting(t, h.addr[RoleSMTP], false)
	rc.expect("554 5.7.1 No mail from loopback")
	rc.send("EHLO client.example\r\n")
	rc.expect("503 5.7.1 No mail from loopback")
	rc.send("MAIL FROM:<a@elsewhere.example>\r\n")
	rc.expect("502")
	rc.send("QUIT\r\n")
	rc.expect("221")
	if rest, ok := rc.closed(); !ok || rest != "" {
		t.Fatalf("after QUIT: %q, closed %v", rest, ok)
	}

	// submission is not refused by this script.
	sub := dialRaw(t, h.addr[RoleSubmission])
	sub.send("EHLO client.example\r\n")
	sub.expect("250")

	// submissions (implicit TLS): the greeting goes out inside TLS, so the
	// refusal comes at EHLO.
	tc := dialNoGreeting(t, h.addr[RoleSubmissions], true)
	tc.expect("220")
	tc.send("EHLO client.example\r\n")
	tc.expect("554 5.7.1 No mail from loopback")
	if _, ok := tc.closed(); !ok {
		t.Fatal("submissions session not closed after the refusal")
	}
}

func TestSieveEhloAndMailStages(t *testing.T) {
	h := sieveHarness(t, map[string]string{
		StageEhlo: `require ["environment", "reject", "variables"];
if environment :matches "vnd.gannet.helo" "*.bad.example" { reject "Bad HELO name ${1}"; }`,
		StageMail: `require ["envelope", "reject"];
if envelope :domain :is "from" "spammer.example" { reject "Go away"; }`,
	})
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO host.bad.example\r\n")
	rc.expect("550 5.7.1 Bad HELO name host")
	rc.send("EHLO good.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<x@spammer.example>\r\n")
	rc.expect("550 5.7.1 Go away")
	rc.send("MAIL FROM:<x@fine.example>\r\n")
	rc.expect("250")
	rc.send("QUIT\r\n")
	rc.expect("221")
}

// TestSieveMailStageSender: a mail-stage script changes the envelope
// sender (vnd.gannet.envelope), later stages read the new one, the stored
// message's Return-Path has it; a bad address fails temporarily.
func TestSieveMailStageSender(t *testing.T) {
	h := sieveHarness(t, map[string]string{
		StageMail: `require ["variables", "vnd.gannet.envelope"];
if string :matches "${envelope.from}" "*@old.example" { set "envelope.from" "${1}@new.example"; }
if string :is "${envelope.from}" "broken@example.org" { set "envelope.from" "not an address"; }`,
		StageData: `require ["variables", "vnd.gannet.envelope", "editheader"];
addheader "X-Envelope-Seen" "${envelope.from} to ${envelope.to}";`,
	})
	if err := sendMail(t, h.addr[RoleSMTP], "alice@old.example", []string{demo}, []byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	in := h.inbox(demo)
	if len(in) != 1 || !strings.HasPrefix(in[0], "Return-Path: <alice@new.example>\r\n") ||
		!strings.Contains(in[0], "X-Envelope-Seen: alice@new.example to "+demo+"\r\n") {
		t.Fatalf("inbox %q; want Return-Path <alice@new.example> and the data stage seeing it", in)
	}
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<broken@example.org>\r\n")
	rc.expect("451 4.3.0")
	rc.send("MAIL FROM:<carol@other.example>\r\n")
	rc.expect("250")
	rc.send("QUIT\r\n")
	rc.expect("221")
}

func TestSieveRcptStage(t *testing.T) {
	h := sieveHarness(t, map[string]string{
		StageRcpt: `require ["envelope", "copy", "reject"];
if envelope :localpart :is "to" "sales" { redirect "demo@example.test"; }
elsif envelope :is "to" "other@example.test" { redirect :copy "demo@example.test"; }
elsif envelope :localpart :is "to" "blackhole" { discard; }
elsif envelope :localpart :is "to" "nobody" { reject "Mailbox closed"; }`,
	})
	// sales@ does not exist: the script makes it demo@ before the lookup.
	if err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{"sales@example.test"}, []byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbox(demo)); n != 1 {
		t.Fatalf("demo has %d messages, want 1 (the redirect)", n)
	}
	// :copy keeps other@ and adds demo@.
	if err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{"other@example.test"}, []byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	if n, m := len(h.inbox(demo)), len(h.inbox(other)); n != 2 || m != 1 {
		t.Fatalf("demo has %d messages (want 2), other %d (want 1)", n, m)
	}
	// reject refuses the recipient; discard accepts and drops it.
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\nMAIL FROM:<a@elsewhere.example>\r\n")
	rc.expect("250")
	rc.expect("250")
	rc.send("RCPT TO:<nobody@example.test>\r\n")
	rc.expect("550 5.7.1 Mailbox closed")
	rc.send("RCPT TO:<blackhole@example.test>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<other@example.test>\r\n")
	rc.expect("250")
	rc.send("DATA\r\n")
	rc.expect("354")
	rc.send(testMessage + ".\r\n")
	rc.expect("250")
	if n, m := len(h.inbox(demo)), len(h.inbox(other)); n != 3 || m != 2 {
		t.Fatalf("demo has %d messages (want 3), other %d (want 2)", n, m)
	}
	if q := h.queue(); len(q) != 0 {
		t.Fatalf("queued %+v, want nothing", q)
	}
}

func TestSieveDataStage(t *testing.T) {
	h := sieveHarness(t, map[string]string{
		StageData: `require ["editheader", "reject", "envelope", "copy", "environment"];
if header :contains "subject" "REJECTME" { reject "Not this one"; stop; }
if header :contains "subject" "DROPME" { discard; stop; }
if header :contains "subject" "COPYME" { redirect :copy "other@example.test"; }
if environment :is "vnd.gannet.stage" "data" {
	addheader "X-Stage" "data";
}
deleteheader "X-Secret";`,
	})
	msg := "From: <a@elsewhere.example>\r\nX-Secret: 42\r\nSubject: %s\r\n\r\nBody.\r\n"
	if err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{demo}, []byte(strings.Replace(msg, "%s", "hello", 1))); err != nil {
		t.Fatal(err)
	}
	in := h.inbox(demo)
	if len(in) != 1 {
		t.Fatalf("demo has %d messages, want 1", len(in))
	}
	if !strings.Contains(in[0], "X-Stage: data") || strings.Contains(in[0], "X-Secret") {
		t.Fatalf("stored message:\n%s", in[0])
	}
	if !strings.HasPrefix(in[0], "Return-Path: <a@elsewhere.example>\r\n") || !strings.Contains(in[0], "Received: ") {
		t.Fatalf("stored message lost the server's fields:\n%s", in[0])
	}

	err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{demo}, []byte(strings.Replace(msg, "%s", "REJECTME", 1)))
	wantReply(t, err, 550, "5.7.1")
	if !strings.Contains(err.Error(), "Not this one") {
		t.Fatalf("refusal %q does not give the reason", err)
	}
	if err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{demo}, []byte(strings.Replace(msg, "%s", "DROPME", 1))); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbox(demo)); n != 1 {
		t.Fatalf("demo has %d messages, want 1 (refused and discarded ones not stored)", n)
	}
	if err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{demo}, []byte(strings.Replace(msg, "%s", "COPYME", 1))); err != nil {
		t.Fatal(err)
	}
	if n, m := len(h.inbox(demo)), len(h.inbox(other)); n != 2 || m != 1 {
		t.Fatalf("demo has %d messages (want 2), other %d (want 1)", n, m)
	}
}

func TestSieveAuthenticatedSessions(t *testing.T) {
	// Scripts run for every session; envelope "auth" tells them apart.
	h := sieveHarness(t, map[string]string{
		StageMail: `require ["envelope", "reject"];
if not envelope :all :matches "auth" "*" { reject "Authenticate first"; }`,
	})
	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\nMAIL FROM:<a@elsewhere.example>\r\n")
	rc.expect("250")
	rc.expect("550 5.7.1 Authenticate first")

	c := submitClient(t, h)
	if err := c.Mail(demo, nil); err != nil {
		t.Fatalf("authenticated MAIL: %v", err)
	}
}

func TestSieveRunTimeFailure(t *testing.T) {
	// A script that fails at run time (here: conflicting actions) is a
	// temporary failure, never a permanent refusal.
	h := sieveHarness(t, map[string]string{
		StageRcpt: `require ["reject"]; reject "x"; redirect "demo@example.test";`,
	})
	err := sendMail(t, h.addr[RoleSMTP], "a@elsewhere.example", []string{demo}, []byte(testMessage))
	wantReply(t, err, 451, "4.3.0")
	waitFor(t, "the failure logged", func() bool { return strings.Contains(h.log.String(), "sieve script failed") })

	// At the connect stage a temporary failure cannot be a greeting: 421,
	// and the connection closes (RFC 5321 section 3.8).
	h = sieveHarness(t, map[string]string{
		StageConnect: `require ["reject"]; reject "x"; redirect "demo@example.test";`,
	})
	rc := dialNoGreeting(t, h.addr[RoleSMTP], false)
	rc.expect("421 4.3.0")
	if rest, ok := rc.closed(); !ok || rest != "" {
		t.Fatalf("after the 421: %q, closed %v", rest, ok)
	}
}

func TestCompileStageScriptsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.sieve")
	if err := os.WriteFile(bad, []byte("require \"envelope\";\nfrobnicate;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := CompileStageScripts([]config.SMTPDSieve{{Stage: "rcpt", Script: bad}}, "")
	if err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("got %v, want an error naming %s and line 2", err, bad)
	}
	_, err = CompileStageScripts([]config.SMTPDSieve{{Stage: "quit", Script: bad}}, "")
	if err == nil || !strings.Contains(err.Error(), `"quit"`) {
		t.Fatalf("got %v, want an error naming the stage", err)
	}
}
