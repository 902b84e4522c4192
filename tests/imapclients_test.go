package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/listen"
	"gannet/lib/message"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// This file drives imapd with real IMAP clients from Debian: mbsync
// (isync), offlineimap3, fetchmail and mutt under tmux. Each one logs in
// over STARTTLS, trusting the server's self-signed certificate by its file.

// clientWait bounds one run of a client and every wait on one.
const clientWait = 60 * time.Second

// imapSite is imapd running on loopback over a fresh store that holds the
// account demo@example.test.
type imapSite struct {
	*smtpdEnv
	st    *sqlite.Store
	acct  *store.Account
	inbox *store.Mailbox
	// addr holds the addresses of the imap (STARTTLS) and imaps sockets.
	addr map[string]string
	// cert is the file of the server's self-signed certificate.
	cert string
}

func newImapSite(t *testing.T) *imapSite {
	t.Helper()
	e := newSmtpdEnv(t, "")
	s := &imapSite{smtpdEnv: e, st: e.openStore()}
	ctx := context.Background()
	var err error
	if s.acct, err = s.st.GetAccount(ctx, smtpdUser); err != nil {
		t.Fatal(err)
	}
	if s.inbox, err = s.st.GetMailbox(ctx, s.acct.ID, "INBOX"); err != nil {
		t.Fatal(err)
	}
	files, addr := e.listenersFor(imapdRoles)
	s.addr = addr
	e.startDaemon("imapd", imapdRoles, files, addr)
	// imapd made its certificate before it said READY=1.
	s.cert = filepath.Join(e.dir, "tls", listen.SelfSignedCertFile)
	if _, err := os.Stat(s.cert); err != nil {
		t.Fatalf("imapd's self-signed certificate: %v", err)
	}
	return s
}

// port is the port of the STARTTLS socket.
func (s *imapSite) port() string {
	_, port, _ := strings.Cut(s.addr["imap"], ":")
	return port
}

// clientMessage is a small message whose subject names it.
func clientMessage(subject string) []byte {
	return []byte("From: Alice <alice@example.org>\r\n" +
		"To: demo@example.test\r\n" +
		"Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n" +
		"Subject: " + subject + "\r\n" +
		"\r\n" +
		"Body of " + subject + ".\r\n")
}

// add stores one message per subject in the INBOX, with flags, in one
// transaction.
func (s *imapSite) add(flags []string, subjects ...string) {
	s.t.Helper()
	var msgs []store.NewMessage
	for _, subj := range subjects {
		raw := clientMessage(subj)
		msgs = append(msgs, store.NewMessage{AccountID: s.acct.ID, MailboxID: s.inbox.ID, Raw: raw,
			Meta: message.Parse(raw).Meta(), Flags: flags})
	}
	if _, err := s.st.AddMessages(context.Background(), msgs); err != nil {
		s.t.Fatal(err)
	}
}

// messages returns the INBOX by subject.
func (s *imapSite) messages() map[string]store.Message {
	s.t.Helper()
	msgs, err := s.st.ListMessages(context.Background(), s.acct.ID, store.MessageFilter{MailboxID: s.inbox.ID})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]store.Message{}
	for _, m := range msgs {
		if _, dup := out[m.Meta.Subject]; dup {
			s.t.Errorf("server: two messages with the subject %q", m.Meta.Subject)
		}
		out[m.Meta.Subject] = m
	}
	return out
}

// ids returns the store IDs of the INBOX messages with these subjects.
func (s *imapSite) ids(subjects ...string) []int64 {
	s.t.Helper()
	msgs := s.messages()
	var ids []int64
	for _, subj := range subjects {
		m, ok := msgs[subj]
		if !ok {
			s.t.Fatalf("server: no message %q", subj)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// flag changes flags on the server, as another client would.
func (s *imapSite) flag(op store.FlagOp, flags []string, subjects ...string) {
	s.t.Helper()
	if _, err := s.st.UpdateFlags(context.Background(), s.acct.ID, s.ids(subjects...), op, flags); err != nil {
		s.t.Fatal(err)
	}
}

// expunge removes messages from the server.
func (s *imapSite) expunge(subjects ...string) {
	s.t.Helper()
	if err := s.st.ExpungeMessages(context.Background(), s.acct.ID, s.ids(subjects...)); err != nil {
		s.t.Fatal(err)
	}
}

// serverFlags returns the INBOX as subject -> maildir flag letters.
func (s *imapSite) serverFlags() map[string]string {
	s.t.Helper()
	out := map[string]string{}
	for subj, m := range s.messages() {
		out[subj] = maildirLetters(m.Flags)
	}
	return out
}

// maildirFlag maps the system flags to maildir's info letters.
var maildirFlag = map[string]byte{
	store.FlagDraft:    'D',
	store.FlagFlagged:  'F',
	store.FlagAnswered: 'R',
	store.FlagSeen:     'S',
	store.FlagDeleted:  'T',
}

// maildirLetters returns the maildir letters of IMAP flags, sorted;
// keywords have none.
func maildirLetters(flags []string) string {
	var b []byte
	for _, f := range flags {
		if c, ok := maildirFlag[f]; ok {
			b = append(b, c)
		}
	}
	slices.Sort(b)
	return string(b)
}

// subjects returns prefix plus the numbers from..to-1, zero-padded.
func subjects(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %03d", prefix, i))
	}
	return out
}

// maildirMsg is one message file of a maildir folder.
type maildirMsg struct {
	path  string
	flags string // the info letters after ":2,"
}

// readMaildir returns the messages of a maildir folder (new and cur) by
// subject, failing on duplicates.
func readMaildir(t *testing.T, dir string) map[string]maildirMsg {
	t.Helper()
	out := map[string]maildirMsg{}
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range entries {
			path := filepath.Join(dir, sub, ent.Name())
			subj := fileSubject(t, path)
			if _, dup := out[subj]; dup {
				t.Errorf("maildir: two messages with the subject %q", subj)
			}
			_, info, _ := strings.Cut(ent.Name(), ":2,")
			out[subj] = maildirMsg{path: path, flags: info}
		}
	}
	return out
}

// maildirFlags returns readMaildir's result as subject -> flag letters.
func maildirFlags(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for subj, m := range readMaildir(t, dir) {
		out[subj] = m.flags
	}
	return out
}

// fileSubject returns the Subject header of a message file.
func fileSubject(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Subject: "); ok {
			return v
		}
	}
	t.Fatalf("%s has no Subject header", path)
	return ""
}

// setMaildirFlags renames a maildir message to carry flags (moving it to
// cur, as a mail reader does).
func setMaildirFlags(t *testing.T, m maildirMsg, flags string) {
	t.Helper()
	base, _, _ := strings.Cut(filepath.Base(m.path), ":2,")
	b := []byte(flags)
	slices.Sort(b)
	to := filepath.Join(filepath.Dir(filepath.Dir(m.path)), "cur", base+":2,"+string(b))
	if err := os.Rename(m.path, to); err != nil {
		t.Fatal(err)
	}
}

// writeMaildirMessage puts a new message in cur with flags.
func writeMaildirMessage(t *testing.T, dir, subject, flags string) {
	t.Helper()
	name := fmt.Sprintf("%d.test%d.localhost:2,%s", time.Now().Unix(), time.Now().UnixNano(), flags)
	if err := os.WriteFile(filepath.Join(dir, "cur", name), clientMessage(subject), 0o600); err != nil {
		t.Fatal(err)
	}
}

// diffFlags reports where two subject -> flags maps differ.
func diffFlags(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	n := 0
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case gok == wok && g == w:
			continue
		case !wok:
			t.Errorf("%s: unexpected message %q (flags %q)", what, k, g)
		case !gok:
			t.Errorf("%s: missing message %q (want flags %q)", what, k, w)
		default:
			t.Errorf("%s: %q has flags %q, want %q", what, k, g, w)
		}
		if n++; n == 20 {
			t.Fatalf("%s: more differences left out", what)
		}
	}
}

// needClient returns the path of a client program, installing its Debian
// package with scripts/test-deps.sh when it is missing; the test fails
// when it cannot be had.
func needClient(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	clientDepsOnce.Do(func() {
		out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "test-deps.sh")).CombinedOutput()
		if err != nil {
			clientDepsErr = fmt.Errorf("scripts/test-deps.sh: %v\n%s", err, out)
		}
	})
	if clientDepsErr != nil {
		t.Fatal(clientDepsErr)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed and scripts/test-deps.sh did not install it: %v", name, err)
	}
	return p
}

var (
	clientDepsOnce sync.Once
	clientDepsErr  error
)

// runClient runs a client with HOME in a directory of its own and returns
// its combined output; it fails the test when the client exits non-zero
// (unless ok accepts the status) or runs too long.
func runClient(t *testing.T, home string, ok func(status int) bool, prog string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(cleanEnv(), "HOME="+home)
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s still running after %v\n%s", filepath.Base(prog), clientWait, out)
	case errors.As(err, &exit):
		if ok == nil || !ok(exit.ExitCode()) {
			t.Fatalf("%s %s: exit %d\n%s", filepath.Base(prog), strings.Join(args, " "), exit.ExitCode(), out)
		}
	case err != nil:
		t.Fatalf("%s: %v", filepath.Base(prog), err)
	}
	return string(out)
}

// TestMbsyncTwoWay syncs 500 messages with mbsync to a maildir, changes
// flags, deletes and adds messages on both sides, syncs again and checks
// that both sides agree.
func TestMbsyncTwoWay(t *testing.T) {
	mbsync := needClient(t, "mbsync")
	s := newImapSite(t)
	all := subjects("mbsync", 0, 500)
	s.add(nil, all[:450]...)
	s.add([]string{store.FlagSeen}, all[450:]...) // already read: S on the first sync

	home := t.TempDir()
	mail := filepath.Join(home, "mail")
	conf := filepath.Join(home, "mbsyncrc")
	rc := fmt.Sprintf(`IMAPAccount gannet
Host 127.0.0.1
Port %s
User %s
Pass %s
SSLType STARTTLS
SystemCertificates no
CertificateFile %s
AuthMechs PLAIN

IMAPStore remote
Account gannet

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel inbox
Far :remote:INBOX
Near :local:INBOX
Create Near
Sync All
Expunge Both
SyncState *
`, s.port(), smtpdUser, smtpdPassword, s.cert, mail, mail)
	if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mail, 0o700); err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(mail, "INBOX")
	syncNow := func() {
		t.Helper()
		runClient(t, home, nil, mbsync, "-c", conf, "inbox")
	}

	// The first sync brings every message, with its flags.
	syncNow()
	want := map[string]string{}
	for i, subj := range all {
		want[subj] = ""
		if i >= 450 {
			want[subj] = "S"
		}
	}
	local := readMaildir(t, inbox)
	if len(local) != 500 {
		t.Fatalf("maildir holds %d messages after the first sync, want 500", len(local))
	}
	diffFlags(t, "maildir after the first sync", maildirFlags(t, inbox), want)
	if t.Failed() {
		t.FailNow()
	}

	// Changes on the server, as another client makes them.
	s.flag(store.FlagsAdd, []string{store.FlagSeen}, all[0:50]...)
	s.flag(store.FlagsAdd, []string{store.FlagFlagged}, all[50:60]...)
	s.flag(store.FlagsRemove, []string{store.FlagSeen}, all[455:460]...)
	s.flag(store.FlagsAdd, []string{store.FlagSeen}, all[400])
	s.expunge(all[200:210]...)
	s.add([]string{store.FlagFlagged}, "mbsync server-new")
	for _, subj := range all[0:50] {
		want[subj] = "S"
	}
	for _, subj := range all[50:60] {
		want[subj] = "F"
	}
	for _, subj := range all[455:460] {
		want[subj] = ""
	}
	for _, subj := range all[200:210] {
		delete(want, subj)
	}
	want["mbsync server-new"] = "F"

	// Changes in the maildir, as a mail reader makes them.
	for _, subj := range all[100:150] {
		setMaildirFlags(t, local[subj], "S")
		want[subj] = "S"
	}
	for _, subj := range all[150:160] {
		setMaildirFlags(t, local[subj], "F")
		want[subj] = "F"
	}
	setMaildirFlags(t, local[all[160]], "RS")
	want[all[160]] = "RS"
	for _, subj := range all[450:455] {
		setMaildirFlags(t, local[subj], "")
		want[subj] = ""
	}
	setMaildirFlags(t, local[all[400]], "F") // and \Seen on the server
	want[all[400]] = "FS"
	for _, subj := range all[300:310] {
		if err := os.Remove(local[subj].path); err != nil {
			t.Fatal(err)
		}
		delete(want, subj)
	}
	writeMaildirMessage(t, inbox, "mbsync local-new", "S")
	want["mbsync local-new"] = "S"

	syncNow()
	if len(want) != 482 {
		t.Fatalf("the test expects %d messages, want 482", len(want))
	}
	diffFlags(t, "server after the second sync", s.serverFlags(), want)
	diffFlags(t, "maildir after the second sync", maildirFlags(t, inbox), want)

	// A third sync finds nothing to do and changes nothing.
	syncNow()
	diffFlags(t, "server after the third sync", s.serverFlags(), want)
	diffFlags(t, "maildir after the third sync", maildirFlags(t, inbox), want)

	// The message uploaded by mbsync is the one in the maildir.
	up := s.messages()["mbsync local-new"]
	b, err := s.st.ReadBlob(context.Background(), up.BlobID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\r\n\r\nBody of mbsync local-new.\r\n")) {
		t.Errorf("uploaded message:\n%s", b)
	}
}

// TestOfflineimapSync syncs the INBOX with offlineimap over the imaps
// socket (implicit TLS, the certificate pinned by its SHA-256), checks the
// messages and flags in the maildir, then flags one locally and checks that
// the next sync sets it on the server.
func TestOfflineimapSync(t *testing.T) {
	offlineimap := needClient(t, "offlineimap")
	s := newImapSite(t)
	all := subjects("offlineimap", 0, 30)
	s.add(nil, all[:25]...)
	s.add([]string{store.FlagSeen}, all[25:28]...)
	s.add([]string{store.FlagAnswered, store.FlagSeen}, all[28:]...)

	home := t.TempDir()
	mail := filepath.Join(home, "mail")
	conf := filepath.Join(home, "offlineimaprc")
	_, port, _ := strings.Cut(s.addr["imaps"], ":")
	rc := fmt.Sprintf(`[general]
accounts = gannet
metadata = %s/meta

[Account gannet]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = %s
ssl = yes
cert_fingerprint = %s
remoteuser = %s
remotepass = %s
folderfilter = lambda f: f == 'INBOX'
`, home, mail, port, certSHA256(t, s.cert), smtpdUser, smtpdPassword)
	if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	syncNow := func() {
		t.Helper()
		out := runClient(t, home, nil, offlineimap, "-c", conf, "-o", "-u", "basic")
		// offlineimap exits 0 after some errors; it reports them.
		if strings.Contains(out, "ERROR") {
			t.Fatalf("offlineimap reported errors:\n%s", out)
		}
	}

	syncNow()
	inbox := filepath.Join(mail, "INBOX")
	want := map[string]string{}
	for i, subj := range all {
		switch {
		case i < 25:
			want[subj] = ""
		case i < 28:
			want[subj] = "S"
		default:
			want[subj] = "RS"
		}
	}
	local := readMaildir(t, inbox)
	if len(local) != 30 {
		t.Errorf("maildir holds %d messages, want 30", len(local))
	}
	diffFlags(t, "maildir", maildirFlags(t, inbox), want)
	if t.Failed() {
		t.FailNow()
	}
	b, err := os.ReadFile(local[all[7]].path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\nBody of offlineimap 007.")) {
		t.Errorf("%s:\n%s", local[all[7]].path, b)
	}

	setMaildirFlags(t, local[all[3]], "F")
	want[all[3]] = "F"
	syncNow()
	diffFlags(t, "server after the second sync", s.serverFlags(), want)
}

// certSHA256 returns the SHA-256 of the DER of a PEM certificate file, in
// hex.
func certSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}

// TestFetchmailSTARTTLS fetches over IMAP with STARTTLS, verifying the
// certificate, into an MDA that writes files: first keeping the messages
// on the server (which marks them \Seen), then deleting them.
func TestFetchmailSTARTTLS(t *testing.T) {
	fetchmail := needClient(t, "fetchmail")
	s := newImapSite(t)
	s.add([]string{store.FlagSeen}, "fetchmail old")
	s.add(nil, subjects("fetchmail", 0, 3)...)

	home := t.TempDir()
	out := filepath.Join(home, "fetched")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(home, "fetchmailrc")
	// fetchmail runs the MDA through the shell, once per message.
	rc := fmt.Sprintf(`set no syslog
poll 127.0.0.1 service %s protocol IMAP auth password
	user "%s" there with password "%s"
	sslproto "TLS1.2+" sslcertck sslcertfile "%s" sslcommonname "mx.example.test"
	mda "cat > $(mktemp %s/msg.XXXXXX)"
`, s.port(), smtpdUser, smtpdPassword, s.cert, out)
	if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	fetch := func(args ...string) string {
		t.Helper()
		// Exit status 1 is "no mail".
		noMail := func(status int) bool { return status == 1 }
		return runClient(t, home, noMail, fetchmail, append([]string{"-f", conf, "--nodetach", "--idfile", filepath.Join(home, "fetchids")}, args...)...)
	}
	fetched := func() []string {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(out, "msg.*"))
		if err != nil {
			t.Fatal(err)
		}
		var subj []string
		for _, f := range files {
			sub := fileSubject(t, f)
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte("\nBody of "+sub+".")) {
				t.Errorf("fetched %s:\n%s", f, b)
			}
			subj = append(subj, sub)
		}
		sort.Strings(subj)
		return subj
	}

	// keep: the unseen messages are fetched and stay, now \Seen.
	log := fetch("--keep")
	if got, want := fetched(), subjects("fetchmail", 0, 3); !slices.Equal(got, want) {
		t.Fatalf("fetched %q, want %q\n%s", got, want, log)
	}
	diffFlags(t, "server after fetchmail --keep", s.serverFlags(), map[string]string{
		"fetchmail old": "S", "fetchmail 000": "S", "fetchmail 001": "S", "fetchmail 002": "S"})

	// nokeep: the new messages are fetched and deleted; the old stay.
	s.add(nil, subjects("fetchmail", 3, 5)...)
	log = fetch("--nokeep")
	if got, want := fetched(), subjects("fetchmail", 0, 5); !slices.Equal(got, want) {
		t.Fatalf("fetched %q, want %q\n%s", got, want, log)
	}
	diffFlags(t, "server after fetchmail --nokeep", s.serverFlags(), map[string]string{
		"fetchmail old": "S", "fetchmail 000": "S", "fetchmail 001": "S", "fetchmail 002": "S"})

	// Nothing new: nothing fetched.
	log = fetch("--nokeep")
	if got := fetched(); len(got) != 5 {
		t.Errorf("fetched %q after a run with no new mail\n%s", got, log)
	}
}

// TestMuttTmux reads a message with mutt in a tmux pane: STARTTLS with the
// server's certificate in mutt's certificate_file (so no prompt), the
// index, the pager with the body, and the \Seen flag mutt sets on quitting.
func TestMuttTmux(t *testing.T) {
	mutt := needClient(t, "mutt")
	tmux := needClient(t, "tmux")
	s := newImapSite(t)
	s.add(nil, "mutt first", "mutt second")

	home := t.TempDir()
	certs := filepath.Join(home, "certificates")
	pemCert, err := os.ReadFile(s.cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certs, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	muttrc := filepath.Join(home, "muttrc")
	folder := fmt.Sprintf("imap://%s@127.0.0.1:%s/", strings.ReplaceAll(smtpdUser, "@", "%40"), s.port())
	rc := fmt.Sprintf(`set imap_user = "%s"
set imap_pass = "%s"
set folder = "%s"
set spoolfile = "+INBOX"
set record = "%s/sent"
set postponed = "%s/postponed"
set mbox = "%s/mbox"
set ssl_starttls = yes
set ssl_force_tls = yes
set ssl_verify_host = no
set certificate_file = "%s"
set header_cache = ""
set message_cachedir = ""
set sort = mailbox-order
set quit = yes
set move = no
set mark_old = no
set wait_key = no
set pager_index_lines = 0
`, smtpdUser, smtpdPassword, folder, home, home, home, certs)
	if err := os.WriteFile(muttrc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}

	sock := filepath.Join(home, "tmux.sock")
	tm := func(args ...string) (string, error) {
		cmd := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		cmd.Env = append(cleanEnv(), "HOME="+home, "TERM=xterm-256color", "LANG=C.UTF-8")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := tm("new-session", "-d", "-s", "mutt", "-x", "120", "-y", "40",
		mutt+" -n -F "+muttrc); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { tm("kill-server") })
	screen := ""
	// waitScreen polls the pane until it shows every string.
	waitScreen := func(what string, texts ...string) {
		t.Helper()
		deadline := time.Now().Add(clientWait)
		for {
			out, err := tm("capture-pane", "-p", "-t", "mutt")
			if err != nil {
				t.Fatalf("waiting for %s: tmux capture-pane: %v\n%s\nlast screen:\n%s", what, err, out, screen)
			}
			screen = out
			all := true
			for _, s := range texts {
				all = all && strings.Contains(screen, s)
			}
			if all {
				return
			}
			if strings.Contains(screen, "(r)eject, accept (o)nce") {
				t.Fatalf("waiting for %s: mutt asks whether to trust the certificate:\n%s", what, screen)
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: screen:\n%s", what, screen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	waitScreen("the index", "mutt first", "mutt second", "INBOX")
	if out, err := tm("send-keys", "-t", "mutt", "Enter"); err != nil {
		t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
	waitScreen("the message", "Subject: mutt first", "Body of mutt first.")
	for _, key := range []string{"q", "q"} { // the pager, then mutt
		if out, err := tm("send-keys", "-t", "mutt", key); err != nil {
			t.Fatalf("tmux send-keys: %v\n%s", err, out)
		}
	}
	deadline := time.Now().Add(clientWait)
	for {
		if _, err := tm("has-session", "-t", "mutt"); err != nil {
			break // mutt quit and its session ended
		}
		if time.Now().After(deadline) {
			out, _ := tm("capture-pane", "-p", "-t", "mutt")
			t.Fatalf("mutt did not quit:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	diffFlags(t, "server after mutt", s.serverFlags(), map[string]string{"mutt first": "S", "mutt second": ""})
}
