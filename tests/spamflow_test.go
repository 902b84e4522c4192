package tests

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// spamFlowConfig turns the Bayes trainer's round to a second and adds a
// rule of the administrator's, as a user would in gannet.toml.
const spamFlowConfig = `
[spam.bayes]
train_interval = "1s"

[[spam.rule]]
name = "LOCAL_PILLS"
condition = 'subject contains "cheap pills"'
score = 8.0
description = "our own rule: pills"
`

// spamFlowScript lists the mailboxes through Python's imaplib, moves the
// message in Junk back to INBOX (the user's "not spam"), and prints what
// it saw: "INBOX n", "Junk n", then the Junk message itself.
const spamFlowScript = `
import imaplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
M = imaplib.IMAP4(host, int(port))
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M.starttls(ssl_context=ctx)
M.login(sys.argv[2], sys.argv[3])
for box in ("INBOX", "Junk"):
    typ, data = M.select(box)
    print(box, data[0].decode())
typ, data = M.fetch("1", "(BODY.PEEK[])")
sys.stdout.write("----\n" + data[0][1].decode(errors="replace").replace("\r\n", "\n") + "----\n")
typ, data = M.uid("MOVE", "1:*", "INBOX")
print("MOVE", typ)
M.logout()
`

// TestSpamFlow follows spam through the suite with real clients: swaks
// sends ham, spam and GTUBE to smtpd; ham lands in INBOX, spam in Junk with
// its verdict, GTUBE is refused with 550 5.7.1; the user moves the spam out
// of Junk with imaplib, and imapd's trainer teaches the account's Bayes
// data that it is ham: bayes-train then finds it already learned.
func TestSpamFlow(t *testing.T) {
	e := newSmtpdEnv(t, spamFlowConfig)
	sfiles, saddr := e.listeners()
	e.start(sfiles, saddr)
	ifiles, iaddr := e.listenersFor(imapdRoles)
	e.startDaemon("imapd", imapdRoles, ifiles, iaddr)

	h, port, _ := net.SplitHostPort(saddr["smtp"])
	send := func(subject, body string) (string, int) {
		return swaks(t, "--server", h, "--port", port, "--from", "someone@elsewhere.example",
			"--to", smtpdUser, "--header", "Subject: "+subject, "--body", body)
	}
	if out, status := send("lunch", "Shall we meet at noon?"); status != 0 {
		t.Fatalf("ham: status %d\n%s", status, out)
	}
	if out, status := send("cheap pills", "Best prices."); status != 0 {
		t.Fatalf("spam: status %d\n%s", status, out)
	}
	out, status := send("test", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X")
	if status == 0 || !strings.Contains(out, "550 5.7.1") {
		t.Errorf("GTUBE: status %d, want a 550 5.7.1 refusal\n%s", status, out)
	}

	python := needTool(t, "python3")
	got, err := exec.Command(python, "-c", spamFlowScript, iaddr["imap"], smtpdUser, smtpdPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, got)
	}
	text := string(got)
	for _, want := range []string{"INBOX 1\n", "Junk 1\n", "X-Spam-Flag: YES\n", "LOCAL_PILLS=8.00 (our own rule: pills)", "Subject: cheap pills\n", "MOVE OK\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("imaplib output lacks %q:\n%s", want, text)
		}
	}
	_, msg, _ := strings.Cut(text, "----\n")
	msg, _, _ = strings.Cut(msg, "----\n")

	// The move out of Junk is a verdict: ham. Within a few trainer rounds
	// the account's Bayes data has it, so training it again as ham is a
	// no-op.
	file := filepath.Join(t.TempDir(), "moved.eml")
	if err := os.WriteFile(file, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The event waits in the store until the trainer has applied it.
	st := e.openStore()
	eventually(t, "the trainer applies the training event", func() bool {
		evs, err := st.ListTrainingEvents(context.Background(), 0, 10)
		return err == nil && len(evs) == 0
	})
	r := run(t, "bayes-train", "--config", e.config, "--ham", "--account", smtpdUser, file)
	if r.status != 0 || !strings.Contains(r.stdout+r.stderr, "learned 0 messages, moved 0 learned the other way, skipped 1 already learned") {
		t.Errorf("bayes-train --ham of the moved message: status %d\n%s%s", r.status, r.stdout, r.stderr)
	}
}
