package tests

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmtpdSieveStages runs smtpd with administrator Sieve scripts
// ([[smtpd.sieve]]): one at the rcpt stage rewriting a recipient, one at
// the data stage adding a header field and refusing a message; swaks is
// the client.
func TestSmtpdSieveStages(t *testing.T) {
	scripts := t.TempDir()
	rcpt := filepath.Join(scripts, "rcpt.sieve")
	data := filepath.Join(scripts, "data.sieve")
	write := func(path, src string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(rcpt, `require ["envelope"];
# sales@ has no account: its mail goes to demo@.
if envelope :is "to" "sales@example.test" { redirect "demo@example.test"; }
`)
	write(data, `require ["editheader", "reject", "environment"];
if header :contains "subject" "forbidden" { reject "Forbidden subject"; stop; }
if environment :is "vnd.gannet.stage" "data" { addheader "X-Gannet-Stage" "data script ran"; }
`)
	e := newSmtpdEnv(t, `
[[smtpd.sieve]]
stage = "rcpt"
script = "`+rcpt+`"

[[smtpd.sieve]]
stage = "data"
script = "`+data+`"
`)
	files, addr := e.listeners()
	p := e.start(files, addr)
	st := e.openStore()
	h, port, _ := net.SplitHostPort(addr["smtp"])
	server := []string{"--server", h, "--port", port}

	out, status := swaks(t, append(server, "--to", "sales@example.test", "--from", "someone@remote.example", "--header", "Subject: for sales")...)
	if status != 0 {
		t.Fatalf("status %d\n%s", status, out)
	}
	wantLine(t, out, "250 2.0.0")

	out, status = swaks(t, append(server, "--to", "demo@example.test", "--from", "someone@remote.example", "--header", "Subject: forbidden fruit")...)
	if status == 0 {
		t.Fatalf("accepted:\n%s", out)
	}
	wantLine(t, out, "550 5.7.1 Forbidden subject")

	msgs := e.inbox(st)
	if len(msgs) != 1 {
		t.Fatalf("demo has %d messages, want 1 (the one for sales@)", len(msgs))
	}
	m := msgs[0]
	if !strings.Contains(m, "Subject: for sales\r\n") || !strings.Contains(m, "\r\nX-Gannet-Stage: data script ran\r\n") {
		t.Errorf("stored message:\n%s", m)
	}
	if status := p.stop(); status != 0 {
		t.Errorf("exit status %d after SIGTERM", status)
	}

	// A script with an error stops smtpd at start, naming file and line.
	write(rcpt, "require [\"envelope\"];\n\nfrobnicate;\n")
	r := run(t, "smtpd", "--config", e.config)
	if r.status == 0 || !strings.Contains(r.stderr, rcpt+":3:") || !strings.Contains(r.stderr, "smtpd.sieve[0].script") {
		t.Errorf("smtpd with a bad script: status %d\n%s", r.status, r.stderr)
	}
}
