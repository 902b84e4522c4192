package tests

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gannet/lib/store"
)

var sievedRoles = []string{"sieve"}

// sievedLimits are the [sieve] limits the sieved tests run with.
const sievedLimits = `
[sieve]
max_scripts = 2
max_script_size = 300
`

// goodSieve is a valid script; badSieve has an error on line 3, column 3.
const (
	goodSieve = "require \"fileinto\";\r\nif header :contains \"subject\" \"[list]\" {\r\n  fileinto \"Lists\";\r\n}\r\n"
	badSieve  = "require \"fileinto\";\r\nif true {\r\n  frobnicate \"x\";\r\n}\r\n"
)

// sieveConnect runs Debian's sieve-connect against addr as demo, over
// STARTTLS (--noclearchan: never in the clear) with PLAIN, the password on
// file descriptor 3. It returns the output and exit status.
func sieveConnect(t *testing.T, dir, addr string, args ...string) (string, int) {
	t.Helper()
	prog := needTool(t, "sieve-connect")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := os.Open(filepath.Join(dir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, append([]string{"--server", host, "--port", port,
		"--user", smtpdUser, "--passwordfd", "3", "--authmech", "PLAIN",
		"--noclearchan", "--notlsverify"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "HOME="+dir)
	cmd.ExtraFiles = []*os.File{pw}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("sieve-connect %v: still running after a minute\n%s", args, out)
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		t.Fatalf("sieve-connect %v: %v", args, err)
	}
	return string(out), 0
}

// TestSievedSieveConnect drives sieved with sieve-connect: upload, list,
// activate, download and delete a script over STARTTLS with PLAIN; a bad
// script is refused with its error's line; the [sieve] quotas hold.
func TestSievedSieveConnect(t *testing.T) {
	needTool(t, "sieve-connect")
	e := newSmtpdEnv(t, sievedLimits)
	if err := os.WriteFile(filepath.Join(e.dir, "password"), []byte(smtpdPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"good.sieve": goodSieve,
		"bad.sieve":  badSieve,
		"big.sieve":  "keep;\r\n" + strings.Repeat("# padding\r\n", 40),
	} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, addr := e.listenersFor(sievedRoles)
	p := e.startDaemon("sieved", sievedRoles, files, addr)
	sc := func(wantStatus int, args ...string) string {
		t.Helper()
		out, status := sieveConnect(t, e.dir, addr["sieve"], args...)
		if status != wantStatus {
			t.Fatalf("sieve-connect %v: status %d, want %d\n%s", args, status, wantStatus, out)
		}
		return out
	}

	sc(0, "--upload", "--localsieve", "good.sieve", "--remotesieve", "main")
	if out := sc(0, "--list"); strings.TrimSpace(out) != `"main"` {
		t.Errorf("list after upload:\n%s", out)
	}
	sc(0, "--activate", "--remotesieve", "main")
	if out := sc(0, "--list"); strings.TrimSpace(out) != `"main" ACTIVE` {
		t.Errorf("list after activate:\n%s", out)
	}
	sc(0, "--download", "--remotesieve", "main", "--localsieve", "downloaded.sieve")
	if got, err := os.ReadFile(filepath.Join(e.dir, "downloaded.sieve")); err != nil || string(got) != goodSieve {
		t.Errorf("downloaded %q, %v; want %q", got, err, goodSieve)
	}
	st := e.openStore()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		t.Fatal(err)
	}
	if sc, err := st.ActiveSieveScript(ctx, acct.ID); err != nil || sc.Name != "main" || sc.Content != goodSieve {
		t.Errorf("the store's active script: %+v, %v", sc, err)
	}

	// A bad script is refused, with the line and column of its error.
	out := sc(1, "--upload", "--localsieve", "bad.sieve", "--remotesieve", "bad")
	if !strings.Contains(out, "line 3, column 3") || !strings.Contains(out, "frobnicate") {
		t.Errorf("upload of a bad script:\n%s", out)
	}
	if _, err := st.GetSieveScript(ctx, acct.ID, "bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the bad script was stored: %v", err)
	}
	out = sc(1, "--checkscript", "--localsieve", "bad.sieve")
	if !strings.Contains(out, "line 3, column 3") {
		t.Errorf("checkscript of a bad script:\n%s", out)
	}

	// Quotas: max_script_size = 300, max_scripts = 2.
	out = sc(1, "--upload", "--localsieve", "big.sieve", "--remotesieve", "big")
	if !strings.Contains(out, "QUOTA/MAXSIZE") {
		t.Errorf("upload of a script over max_script_size:\n%s", out)
	}
	sc(0, "--upload", "--localsieve", "good.sieve", "--remotesieve", "second")
	out = sc(1, "--upload", "--localsieve", "good.sieve", "--remotesieve", "third")
	if !strings.Contains(out, "QUOTA/MAXSCRIPTS") {
		t.Errorf("upload of a script over max_scripts:\n%s", out)
	}
	sc(0, "--upload", "--localsieve", "good.sieve", "--remotesieve", "second") // a replacement fits

	// The active script cannot be deleted; once deactivated it can.
	out = sc(1, "--delete", "--remotesieve", "main")
	if !strings.Contains(out, "ACTIVE") {
		t.Errorf("delete of the active script:\n%s", out)
	}
	sc(0, "--deactivate")
	sc(0, "--delete", "--remotesieve", "main")
	sc(0, "--delete", "--remotesieve", "second")
	if out := sc(0, "--list"); strings.TrimSpace(out) != "" {
		t.Errorf("list after deleting everything:\n%s", out)
	}
	if list, err := st.ListSieveScripts(ctx, acct.ID); err != nil || len(list) != 0 {
		t.Errorf("the store still has %+v, %v", list, err)
	}

	if status := p.stop(); status != 0 {
		t.Errorf("sieved exited %d on SIGTERM\n%s", status, p.stderr)
	}
	if log := p.stderr.String(); strings.Contains(log, smtpdPassword) {
		t.Errorf("the password is in the log:\n%s", log)
	}
}

// includeLimits leave room for the scripts of the include tests.
const includeLimits = `
[sieve]
max_scripts = 5
max_script_size = 300
`

// includeSieve includes the account's script "helper" (RFC 6609).
const includeSieve = "require \"include\";\r\ninclude \"helper\";\r\nkeep;\r\n"

// TestSievedInclude: a script including another of the account's scripts
// uploads once that script is there; before, it uploads with a warning
// (as in Pigeonhole); an included script that does not compile refuses the
// including one. The greeting advertises the enotify methods (NOTIFY).
func TestSievedInclude(t *testing.T) {
	needTool(t, "sieve-connect")
	e := newSmtpdEnv(t, includeLimits)
	if err := os.WriteFile(filepath.Join(e.dir, "password"), []byte(smtpdPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"helper.sieve":  goodSieve,
		"main.sieve":    includeSieve,
		"missing.sieve": "require \"include\";\r\ninclude \"absent\";\r\n",
		"broken.sieve":  "require \"include\";\r\ninclude \"broken\";\r\n",
	} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, addr := e.listenersFor(sievedRoles)
	p := e.startDaemon("sieved", sievedRoles, files, addr)

	// RFC 5804 section 1.7: NOTIFY lists the enotify methods.
	conn, err := net.DialTimeout("tcp", addr["sieve"], 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	greeting := make([]byte, 0, 1024)
	buf := make([]byte, 1024)
	for !strings.Contains(string(greeting), "\r\nOK") && len(greeting) < 8192 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("greeting %q: %v", greeting, err)
		}
		greeting = append(greeting, buf[:n]...)
	}
	conn.Close()
	if !strings.Contains(string(greeting), "\"NOTIFY\" \"mailto\"\r\n") || !strings.Contains(string(greeting), " enotify") {
		t.Errorf("greeting without NOTIFY \"mailto\" or enotify:\n%s", greeting)
	}

	sc := func(wantStatus int, args ...string) string {
		t.Helper()
		out, status := sieveConnect(t, e.dir, addr["sieve"], args...)
		if status != wantStatus {
			t.Fatalf("sieve-connect %v: status %d, want %d\n%s", args, status, wantStatus, out)
		}
		return out
	}
	st := e.openStore()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		t.Fatal(err)
	}

	sc(0, "--upload", "--localsieve", "helper.sieve", "--remotesieve", "helper")
	sc(0, "--upload", "--localsieve", "main.sieve", "--remotesieve", "main")
	sc(0, "--activate", "--remotesieve", "main")
	if s, err := st.ActiveSieveScript(ctx, acct.ID); err != nil || s.Content != includeSieve {
		t.Errorf("the active script: %+v, %v", s, err)
	}
	// A missing included script: stored, with a warning.
	sc(0, "--upload", "--localsieve", "missing.sieve", "--remotesieve", "early")
	if _, err := st.GetSieveScript(ctx, acct.ID, "early"); err != nil {
		t.Errorf("the script including a missing one was not stored: %v", err)
	}
	if log := p.stderr.String(); !strings.Contains(log, "script=early") || !strings.Contains(log, "warnings=1") {
		t.Errorf("sieved did not log the stored script's warning:\n%s", log)
	}
	// An included script that does not compile (stored behind sieved's
	// back) makes the including script fail.
	if err := st.PutSieveScript(ctx, &store.SieveScript{AccountID: acct.ID, Name: "broken", Content: "frobnicate;\r\n"}); err != nil {
		t.Fatal(err)
	}
	out := sc(1, "--upload", "--localsieve", "broken.sieve", "--remotesieve", "uses-broken")
	if !strings.Contains(out, "in included script 'broken'") {
		t.Errorf("upload including a broken script:\n%s", out)
	}
	if status := p.stop(); status != 0 {
		t.Errorf("sieved exited %d on SIGTERM\n%s", status, p.stderr)
	}
}
