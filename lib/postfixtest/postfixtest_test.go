package postfixtest

import (
	"context"
	"fmt"
	"net/smtp"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A private instance takes mail on its port and delivers it into a maildir
// of its own directory, logs to its own file, and leaves nothing running
// or on disk once stopped.
func TestInstanceDeliversToMaildir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("a private Postfix instance needs root; run the tests as root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := Install(ctx, t.Logf); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755)
	os.Chmod(base, 0o755)
	mail := filepath.Join(base, "mail")
	if err := os.Mkdir(mail, 0o755); err != nil {
		t.Fatal(err)
	}
	var uid, gid int
	fmt.Sscan(u.Uid, &uid)
	fmt.Sscan(u.Gid, &gid)
	if err := os.Chown(mail, uid, gid); err != nil {
		t.Fatal(err)
	}
	vmailbox := filepath.Join(base, "vmailbox")
	os.WriteFile(vmailbox, []byte("rcpt@maildir.test rcpt/\n"), 0o644)

	in, err := Start(ctx, Options{
		Main: map[string]string{
			"virtual_mailbox_domains": "maildir.test",
			"virtual_mailbox_base":    mail,
			"virtual_mailbox_maps":    "texthash:" + vmailbox,
			"virtual_uid_maps":        "static:" + u.Uid,
			"virtual_gid_maps":        "static:" + u.Gid,
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			t.Logf("log:\n%s", in.Log())
			in.Stop()
		}
	}()

	msg := "From: s@remote.test\r\nTo: rcpt@maildir.test\r\nSubject: hello\r\nMessage-ID: <1@remote.test>\r\n" +
		"Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nbody line\r\n.dot\r\n"
	if err := smtp.SendMail(in.Addr, nil, "s@remote.test", []string{"rcpt@maildir.test"}, []byte(msg)); err != nil {
		t.Fatalf("sending: %v", err)
	}
	// Unknown recipients of the domain are refused at RCPT.
	err = smtp.SendMail(in.Addr, nil, "s@remote.test", []string{"nobody@maildir.test"}, []byte(msg))
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("unknown recipient: %v, want a 550", err)
	}

	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	line, err := in.WaitLog(wctx, regexp.MustCompile(`to=<rcpt@maildir\.test>.*status=sent`))
	wcancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(line)
	files, _ := filepath.Glob(filepath.Join(mail, "rcpt", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("maildir new/ holds %v, want one message", files)
	}
	got, _ := os.ReadFile(files[0])
	if !strings.HasSuffix(string(got), "\nbody line\n.dot\n") || !strings.Contains(string(got), "Subject: hello\n") {
		t.Errorf("delivered message:\n%s", got)
	}

	pids := in.PIDs()
	if len(pids) < 2 || pids[0] != in.MasterPID() {
		t.Errorf("PIDs() = %v, want the master and its daemons", pids)
	}
	stopped = true
	if err := in.Stop(); err != nil {
		t.Error(err)
	}
	for _, pid := range pids[:1] {
		if alive(pid) {
			t.Errorf("master %d still running after Stop", pid)
		}
	}
	if _, err := os.Stat(in.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Stop: %v", in.Dir, err)
	}
	if err := in.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// New gives a test an instance on its own port, stopped at the end; two
// run side by side without sharing anything.
func TestNewTwoInstances(t *testing.T) {
	a := New(t, Options{})
	b := New(t, Options{Main: map[string]string{"myhostname": "other.test"}})
	if a.Addr == b.Addr || a.Dir == b.Dir {
		t.Fatalf("instances share %s / %s", a.Addr, a.Dir)
	}
	for _, c := range []struct {
		in   *Instance
		want string
	}{{a, "postfix.test"}, {b, "other.test"}} {
		cl, err := smtp.Dial(c.in.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		// Mail for anywhere else is refused: an instance relays nowhere.
		if err := cl.Mail("s@remote.test"); err != nil {
			t.Fatal(err)
		}
		if err := cl.Rcpt("x@elsewhere.test"); err != nil {
			t.Logf("%s refuses relaying from loopback? %v", c.want, err)
		}
		cl.Quit()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = c.in.WaitLog(ctx, regexp.MustCompile(`postfix/postfix-script.*starting the Postfix mail system|daemon started`))
		cancel()
		if err != nil {
			t.Errorf("%s: %v", c.want, err)
		}
	}
}

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		in    string
		ppid  int
		state byte
		ok    bool
	}{
		{"123 (master) S 1 123 123 0 -1", 1, 'S', true},
		{"9 (a b) c)) Z 42 9 9", 42, 'Z', true},
		{"garbage", 0, 0, false},
	} {
		ppid, state, ok := parseStat([]byte(c.in))
		if ppid != c.ppid || state != c.state || ok != c.ok {
			t.Errorf("parseStat(%q) = %d %c %v", c.in, ppid, state, ok)
		}
	}
}
