package tests

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"gannet/lib/message"
	"gannet/lib/store"
)

var imapdRoles = []string{"imap", "imaps"}

// imaplibScript drives imapd with Python's imaplib: STARTTLS, LOGIN,
// SELECT, FETCH, STORE, SEARCH, a delivery by the deliver program seen
// through NOOP (the change feed between processes), and LOGOUT. It prints
// one line per check; the test compares them.
const imaplibScript = `
import imaplib, os, ssl, subprocess, sys, time

host, port = os.environ["IMAP_ADDR"].rsplit(":", 1)
M = imaplib.IMAP4(host, int(port))
print("caps-before", "LOGINDISABLED" in M.capabilities, "STARTTLS" in M.capabilities)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
M.starttls(ssl_context=ctx)
typ, _ = M.login(os.environ["IMAP_USER"], os.environ["IMAP_PASS"])
print("login", typ)
typ, data = M.select("INBOX")
print("select", typ, data[0].decode())
typ, data = M.fetch("1", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("fetch", typ, data[0][1].decode().strip())
typ, data = M.fetch("1", "(BODY[TEXT])")
print("text", data[0][1].decode().strip())
typ, data = M.store("1", "+FLAGS", "(\\Flagged)")
print("store", typ, data[0].decode())
typ, data = M.search(None, "FLAGGED")
print("search", typ, data[0].decode())
typ, data = M.uid("SEARCH", None, "SUBJECT", "imaplib")
print("uid-search", typ, data[0].decode())

msg = b"From: a@example.org\r\nTo: demo@example.test\r\nSubject: second\r\n\r\nhi\r\n"
subprocess.run([os.environ["DELIVER"], "demo@example.test"], input=msg, check=True)
deadline = time.time() + 10
exists = None
while time.time() < deadline:
    M.noop()
    typ, data = M.response("EXISTS")
    if data and data[-1] is not None and data[-1] == b"2":
        exists = data[-1].decode()
        break
    time.sleep(0.05)
print("exists", exists)
typ, data = M.logout()
print("logout", typ)
`

func TestImapdImaplib(t *testing.T) {
	python := needTool(t, "python3")
	e := newSmtpdEnv(t, "")
	st := e.openStore()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: Alice <alice@example.org>\r\nTo: demo@example.test\r\nSubject: hello imaplib\r\n\r\nThe body.\r\n")
	if _, err := st.AddMessages(ctx, []store.NewMessage{{AccountID: acct.ID, MailboxID: inbox.ID, Raw: raw,
		Meta: message.Parse(raw).Meta()}}); err != nil {
		t.Fatal(err)
	}

	files, addr := e.listenersFor(imapdRoles)
	p := e.startDaemon("imapd", imapdRoles, files, addr)
	cmd := exec.Command(python, "-c", imaplibScript)
	cmd.Env = append(cleanEnv(), "IMAP_ADDR="+addr["imap"], "IMAP_USER="+smtpdUser, "IMAP_PASS="+smtpdPassword,
		"DELIVER="+binDir+"/deliver", "GANNET_CONFIG="+e.config)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	want := []string{
		"caps-before True True",
		"login OK",
		"select OK 1",
		"fetch OK Subject: hello imaplib",
		"text The body.",
		// imaplib speaks IMAP4rev1 and is the first to select the
		// mailbox, so the message is \Recent (RFC 3501 section 2.3.2).
		`store OK 1 (FLAGS (\Flagged \Seen \Recent))`,
		"search OK 1",
		"uid-search OK 1",
		"exists 2",
		"logout BYE",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(want) {
		t.Fatalf("imaplib printed:\n%s", out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i+1, got[i], want[i])
		}
	}
	if status := p.stop(); status != 0 {
		t.Errorf("imapd exited %d on SIGTERM\n%s", status, p.stderr)
	}
}
