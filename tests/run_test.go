package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gannet/lib/auth"
	"gannet/lib/config"
	"gannet/lib/store/sqlite"
)

// TestMakeRun runs the set-up part of `make run` (scripts/run.sh with
// GANNET_RUN_ONCE=1) twice in a fresh state directory: the first run
// writes the configuration and creates the demo account with the password
// it prints, the second reuses both and leaves the password alone. A third
// run starts the daemons and stops them.
func TestMakeRun(t *testing.T) {
	needTool(t, "bash")
	varDir := filepath.Join(t.TempDir(), "var")
	script := filepath.Join(repoRoot, "scripts", "run.sh")
	opts := runOpts{env: []string{"GANNET_BIN=" + binDir, "GANNET_VAR=" + varDir, "GANNET_RUN_ONCE=1"}}

	r := runWith(t, opts, script)
	if r.status != 0 {
		t.Fatalf("run.sh: status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`Added account demo@example\.test with password: (\S+)\n`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("run.sh printed no password:\n%s", r.stdout)
	}
	password := m[1]

	configPath := filepath.Join(varDir, "gannet.toml")
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatalf("the configuration run.sh wrote does not load: %v", err)
	}
	if cfg.Server.StateDir != varDir || !filepath.IsAbs(cfg.Server.StateDir) {
		t.Errorf("state_dir = %q, want %q", cfg.Server.StateDir, varDir)
	}
	wantListeners := map[string]string{
		"smtpd":  "smtp=127.0.0.1:2525 submission=127.0.0.1:2587 submissions=127.0.0.1:2465 lmtp=127.0.0.1:2424",
		"imapd":  "imap=127.0.0.1:2143 imaps=127.0.0.1:2993",
		"jmapd":  "http=127.0.0.1:8080",
		"sieved": "sieve=127.0.0.1:4190",
		"spamd":  "spamd=127.0.0.1:7783",
	}
	for section, ls := range map[string][]config.Listener{
		"smtpd": cfg.SMTPD.Listeners, "imapd": cfg.IMAPD.Listeners, "jmapd": cfg.JMAPD.Listeners,
		"sieved": cfg.Sieved.Listeners, "spamd": cfg.Spamd.Listeners,
	} {
		var got []string
		for _, l := range ls {
			got = append(got, l.Name+"="+l.Address)
		}
		if strings.Join(got, " ") != wantListeners[section] {
			t.Errorf("%s listeners %v, want %s", section, got, wantListeners[section])
		}
	}

	// The account is there for userctl...
	u := run(t, "userctl", "--config", configPath, "user", "list", "--json")
	if u.status != 0 {
		t.Fatalf("userctl user list: status %d, %s", u.status, u.stderr)
	}
	var users []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(u.stdout), &users); err != nil {
		t.Fatalf("userctl user list --json: %v\n%s", err, u.stdout)
	}
	if len(users) != 1 || users[0].Address != "demo@example.test" {
		t.Errorf("accounts %+v, want demo@example.test alone", users)
	}
	// ...and the printed password is its password.
	checkPassword(t, cfg, password)

	// Again: nothing changes, and it says so.
	r = runWith(t, opts, script)
	if r.status != 0 {
		t.Fatalf("run.sh again: status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "password:") || !strings.Contains(r.stdout, "password is unchanged") {
		t.Errorf("second run.sh did not leave the password alone:\n%s", r.stdout)
	}
	checkPassword(t, cfg, password)

	// Without GANNET_RUN_ONCE it starts the daemons that are implemented
	// (smtpd so far), says how to reach them, and stops them on SIGTERM
	// (as on Ctrl-C).
	cmd := exec.Command(script)
	cmd.Env = append(cleanEnv(), opts.env[:2]...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if greeting(cfg.SMTPD.Listeners[0].Address) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("smtpd did not come up under run.sh:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("run.sh did not stop on SIGTERM:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "smtpd: SMTP 127.0.0.1:2525") || !strings.Contains(out.String(), "Stopping smtpd") {
		t.Errorf("run.sh output:\n%s", out.String())
	}
}

// greeting reports whether an SMTP server at addr sends its 220.
func greeting(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "220 ")
}

func checkPassword(t *testing.T, cfg *config.Config, password string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: cfg.DatabasePath()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.GetAccount(ctx, "demo@example.test")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := auth.VerifyPassword(acct.PasswordHash, password)
	if err != nil || !ok {
		t.Errorf("the printed password does not verify: %v, %v", ok, err)
	}
}
