package milter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"gannet/lib/config"
)

// opendkimBinary finds opendkim and opendkim-genkey, installing the Debian
// packages when they are missing and the test runs as root. A test that
// cannot have them fails: it is never skipped.
func opendkimBinary(t *testing.T) (daemon, genkey string) {
	t.Helper()
	look := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if p := "/usr/sbin/" + name; fileExists(p) {
			return p
		}
		return ""
	}
	daemon, genkey = look("opendkim"), look("opendkim-genkey")
	if daemon != "" && genkey != "" {
		return daemon, genkey
	}
	if os.Geteuid() != 0 {
		t.Fatal("opendkim is not installed: apt-get install opendkim opendkim-tools")
	}
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", "opendkim", "opendkim-tools")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if out, err := install(); err != nil {
		t.Logf("apt-get install: %v\n%s", err, out)
		if out, err := exec.Command("apt-get", "update", "-q").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		if out, err := install(); err != nil {
			t.Fatalf("apt-get install opendkim opendkim-tools: %v\n%s", err, out)
		}
	}
	daemon, genkey = look("opendkim"), look("opendkim-genkey")
	if daemon == "" || genkey == "" {
		t.Fatal("opendkim or opendkim-genkey still missing after apt-get install")
	}
	return daemon, genkey
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// lockedBuffer collects a process's output for the test log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startOpenDKIM runs opendkim in the foreground, signing for example.org
// with a new key, and returns its milter address and the key's DNS TXT
// record.
func startOpenDKIM(t *testing.T, canon string) (addr, txt string) {
	t.Helper()
	daemon, genkey := opendkimBinary(t)
	dir := t.TempDir()
	if out, err := exec.Command(genkey, "-D", dir, "-d", "example.org", "-s", "sel", "-b", "2048").CombinedOutput(); err != nil {
		t.Fatalf("opendkim-genkey: %v\n%s", err, out)
	}
	record, err := os.ReadFile(filepath.Join(dir, "sel.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// sel._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=MIIB..." "..." )
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(string(record), -1) {
		txt += m[1]
	}
	if !strings.Contains(txt, "p=") {
		t.Fatalf("no key in %s", record)
	}

	// A free port: opendkim binds it itself.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	conf := filepath.Join(dir, "opendkim.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`Syslog no
Domain example.org
Selector sel
KeyFile %s
Socket inet:%d@127.0.0.1
Mode s
Canonicalization %s
RequireSafeKeys no
PidFile %s
`, filepath.Join(dir, "sel.private"), port, canon, filepath.Join(dir, "opendkim.pid"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd := exec.Command(daemon, "-f", "-x", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start opendkim: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("opendkim output:\n%s", out.String())
		}
	})

	addr = fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "inet:" + addr, txt
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("opendkim exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("opendkim does not listen on %s after 15s\n%s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOpenDKIMSigns runs a message through a real OpenDKIM in signing mode
// and checks that the signature it adds, placed by Apply, verifies.
func TestOpenDKIMSigns(t *testing.T) {
	for _, canon := range []string{"simple/simple", "relaxed/relaxed"} {
		t.Run(strings.ReplaceAll(canon, "/", "-"), func(t *testing.T) {
			addr, txt := startOpenDKIM(t, canon)
			for _, proto := range []int{6, 2} {
				t.Run(fmt.Sprintf("protocol %d", proto), func(t *testing.T) {
					signAndVerify(t, addr, txt, proto)
				})
			}
		})
	}
}

func signAndVerify(t *testing.T, addr, txt string, proto int) {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chain := New([]config.Milter{{Name: "opendkim", Address: addr, Protocol: proto, Timeout: config.Duration{Duration: 10 * time.Second}}}, nil)
	local := client
	local.Addr = mustAddr("127.0.0.1") // InternalHosts: opendkim signs mail from here
	local.Hostname = "localhost"
	s, act := chain.Session(c, local)
	defer s.Close(c)
	if act.Kind != Accept {
		t.Fatalf("Session: %+v", act)
	}
	if act := s.Mail(c, "alice@example.org", nil); act.Kind != Accept {
		t.Fatalf("Mail: %+v", act)
	}
	if act := s.Rcpt(c, "bob@example.net", nil); act.Kind != Accept {
		t.Fatalf("Rcpt: %+v", act)
	}
	raw := "Received: from client.example.net by mx.example.org\r\n" +
		"From: Alice <alice@example.org>\r\n" +
		"To: Bob <bob@example.net>\r\n" +
		"Subject: a folded\r\n" +
		"\tsubject line\r\n" +
		"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n" +
		"Message-ID: <1@example.org>\r\n" +
		"\r\n" +
		"Hello Bob,\r\n" +
		"\r\n" +
		"this message is signed by OpenDKIM through Gannet's milter client.\r\n" +
		strings.Repeat("A long body line to take more than one chunk of the milter protocol. ", 2000) + "\r\n"
	header, body := splitAt(raw)
	res, err := s.Data(c, header, body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action.Kind != Accept {
		t.Fatalf("Data: %+v", res.Action)
	}
	var sig *Modification
	for i, m := range res.Modifications {
		if strings.EqualFold(m.Name, "DKIM-Signature") && (m.Kind == AddHeader || m.Kind == InsertHeader) {
			sig = &res.Modifications[i]
		}
	}
	if sig == nil {
		t.Fatalf("no DKIM-Signature added: %+v", res.Modifications)
	}
	if !strings.Contains(sig.Value, "d=example.org") || !strings.Contains(sig.Value, "s=sel") {
		t.Errorf("signature %q", sig.Value)
	}
	signed, err := res.Apply([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(signed, []byte("\r\nDKIM-Signature:")) && !bytes.HasPrefix(signed, []byte("DKIM-Signature:")) {
		t.Fatalf("Apply did not put the signature in:\n%.500s", signed)
	}
	if !bytes.HasSuffix(signed, []byte(raw[strings.Index(raw, "\r\n\r\n"):])) {
		t.Error("Apply changed the body")
	}
	if stripped := bytes.ReplaceAll(signed, []byte("\r\n"), nil); bytes.ContainsAny(stripped, "\r\n") {
		t.Error("Apply left a bare CR or LF")
	}
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "sel._domainkey.example.org" {
				return nil, errors.New("no such record: " + domain)
			}
			return []string{txt}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(verifications) != 1 || verifications[0].Err != nil || verifications[0].Domain != "example.org" {
		for _, v := range verifications {
			t.Errorf("verification: %+v", v)
		}
		t.Fatalf("the signature does not verify:\n%.1500s", signed)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
