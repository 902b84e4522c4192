package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sievectlFiles writes the scripts and message the sievectl tests use into
// dir.
func sievectlFiles(t *testing.T, dir string) {
	t.Helper()
	for name, content := range map[string]string{
		"good.sieve": goodSieve,
		"bad.sieve":  badSieve,
		"two.sieve":  "require [\"fileinto\", \"imap4flags\"];\nif address :is \"from\" \"boss@example.org\" {\n  fileinto :flags \"\\\\Flagged\" \"Work\";\n  stop;\n}\nredirect \"archive@example.net\";\n",
		"big.sieve":  "keep;\n" + strings.Repeat("# padding\n", 40),
		"boss.eml":   "From: Boss <boss@example.org>\nTo: demo@example.test\nSubject: [list] report\n\nPlease.\n",
		"other.eml":  "From: someone@example.org\nTo: demo@example.test\nSubject: hello\n\nHi.\n",
		"password":   smtpdPassword + "\n",
		"env.sieve":  "require \"envelope\";\nif envelope :is \"from\" \"bounces@example.org\" { discard; }\nif envelope :is \"to\" \"demo@example.test\" { keep; }\n",
		"bounce.eml": "Return-Path: <bounces@example.org>\nFrom: list@example.org\nTo: Demo <demo@example.test>, other@example.test\nSubject: x\n\nx\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// sievectl runs sievectl in dir and fails unless it exits with want.
func sievectl(t *testing.T, dir string, env []string, want int, args ...string) result {
	t.Helper()
	r := runWith(t, runOpts{dir: dir, env: env}, "sievectl", args...)
	if r.status != want {
		t.Fatalf("sievectl %s: status %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.status, want, r.stdout, r.stderr)
	}
	return r
}

// check, compile and test work on files, without a configuration.
func TestSievectlFiles(t *testing.T) {
	dir := t.TempDir()
	sievectlFiles(t, dir)
	env := []string{"GANNET_CONFIG=" + filepath.Join(dir, "absent.toml")}
	none := []string(nil) // no configuration at all: the defaults

	r := sievectl(t, dir, none, 0, "check", "good.sieve", "two.sieve")
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("check of good scripts printed %q, %q", r.stdout, r.stderr)
	}
	r = sievectl(t, dir, none, 1, "check", "good.sieve", "bad.sieve", "missing.sieve")
	if !strings.HasPrefix(r.stderr, "bad.sieve:3:3: ") || !strings.Contains(r.stderr, "frobnicate") ||
		!strings.Contains(r.stderr, "missing.sieve: ") || strings.Contains(r.stderr, "good.sieve") {
		t.Errorf("check of a bad script said:\n%s", r.stderr)
	}
	sievectl(t, dir, none, 0, "compile", "good.sieve")
	r = sievectl(t, dir, none, 1, "compile", "bad.sieve")
	if !strings.HasPrefix(r.stderr, "bad.sieve:3:3: ") {
		t.Errorf("compile of a bad script said:\n%s", r.stderr)
	}
	// A configuration named but missing is an error (78).
	sievectl(t, dir, env, 78, "check", "good.sieve")

	r = sievectl(t, dir, none, 0, "test", "two.sieve", "--message", "boss.eml",
		"--envelope-from", "boss@example.org", "--envelope-to", smtpdUser)
	if want := "fileinto :flags \"\\\\Flagged\" \"Work\"\n"; r.stdout != want {
		t.Errorf("test with the boss's message printed %q, want %q", r.stdout, want)
	}
	r = sievectl(t, dir, none, 0, "test", "two.sieve", "--message", "other.eml")
	if want := "redirect \"archive@example.net\"\n"; r.stdout != want {
		t.Errorf("test with another message printed %q, want %q", r.stdout, want)
	}
	r = runWith(t, runOpts{dir: dir, stdin: "Subject: [list] x\n\nbody\n"}, "sievectl", "test", "good.sieve", "--message", "-")
	if r.status != 0 || r.stdout != "fileinto \"Lists\"\n" {
		t.Errorf("test with a message on stdin: %d %q %q", r.status, r.stdout, r.stderr)
	}
	// The envelope comes from the Return-Path and the first To address
	// unless given.
	r = sievectl(t, dir, none, 0, "test", "env.sieve", "--message", "bounce.eml")
	if r.stdout != "discard\nkeep\n" {
		t.Errorf("test with the envelope from the headers printed %q", r.stdout)
	}
	r = sievectl(t, dir, none, 0, "test", "env.sieve", "--message", "bounce.eml", "--envelope-from", "", "--envelope-to", "x@example.test")
	if r.stdout != "keep (implicit)\n" {
		t.Errorf("test with the envelope given printed %q", r.stdout)
	}
	r = runWith(t, runOpts{dir: dir, stdin: badSieve}, "sievectl", "check", "-")
	if r.status != 1 || !strings.HasPrefix(r.stderr, "-:3:3: ") {
		t.Errorf("check of a bad script on stdin: %d %q", r.status, r.stderr)
	}
	r = sievectl(t, dir, none, 1, "test", "bad.sieve", "--message", "other.eml")
	if !strings.HasPrefix(r.stderr, "bad.sieve:3:3: ") || r.stdout != "" {
		t.Errorf("test of a bad script: %q %q", r.stdout, r.stderr)
	}
}

// The account commands in the store, with the [sieve] limits.
func TestSievectlStore(t *testing.T) {
	e := newSmtpdEnv(t, sievedLimits)
	sievectlFiles(t, e.dir)
	acct := []string{"--config", e.config, "--account", smtpdUser}
	ctl := func(want int, args ...string) result {
		t.Helper()
		return sievectl(t, e.dir, nil, want, append(args, acct...)...)
	}
	if r := ctl(0, "list"); r.stdout != "" {
		t.Errorf("list of no scripts: %q", r.stdout)
	}
	if r := ctl(0, "list", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list --json of no scripts: %q", r.stdout)
	}
	ctl(0, "put", "main", "good.sieve", "--activate")
	ctl(0, "put", "other", "two.sieve")
	if r := ctl(0, "list"); r.stdout != "main (active)\nother\n" {
		t.Errorf("list: %q", r.stdout)
	}
	var list []struct {
		Name   string `json:"name"`
		Active bool   `json:"active"`
	}
	r := ctl(0, "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 || list[0].Name != "main" || !list[0].Active || list[1].Active {
		t.Errorf("list --json: %q (%v)", r.stdout, err)
	}
	if r := ctl(0, "get", "main"); r.stdout != goodSieve {
		t.Errorf("get: %q", r.stdout)
	}
	r = ctl(1, "put", "broken", "bad.sieve")
	if !strings.Contains(r.stderr, "max_scripts") && !strings.Contains(r.stderr, "QUOTA/MAXSCRIPTS") {
		t.Errorf("put over max_scripts: %q", r.stderr)
	}
	r = ctl(1, "put", "other", "bad.sieve")
	if !strings.Contains(r.stderr, "bad.sieve: line 3, column 3") {
		t.Errorf("put of a bad script: %q", r.stderr)
	}
	r = ctl(1, "put", "other", "big.sieve")
	if !strings.Contains(r.stderr, "QUOTA/MAXSIZE") {
		t.Errorf("put over max_script_size: %q", r.stderr)
	}
	r = ctl(1, "delete", "main")
	if !strings.Contains(r.stderr, "ACTIVE") {
		t.Errorf("delete of the active script: %q", r.stderr)
	}
	ctl(67, "get", "nope")
	ctl(67, "activate", "nope")
	r = ctl(1, "rename", "main", "other")
	if !strings.Contains(r.stderr, "ALREADYEXISTS") {
		t.Errorf("rename onto another script: %q", r.stderr)
	}
	ctl(0, "rename", "main", "renamed")
	if r := ctl(0, "list"); r.stdout != "other\nrenamed (active)\n" {
		t.Errorf("list after rename: %q", r.stdout)
	}
	ctl(0, "activate", "other")
	ctl(0, "deactivate")
	ctl(0, "delete", "renamed")
	if r := ctl(0, "list"); r.stdout != "other\n" {
		t.Errorf("list after delete: %q", r.stdout)
	}
	sievectl(t, e.dir, nil, 67, "list", "--config", e.config, "--account", "nobody@example.test")
	sievectl(t, e.dir, nil, 2, "list", "--config", e.config)
	sievectl(t, e.dir, nil, 2, "get", "--config", e.config, "--account", smtpdUser)
}

// The account commands over ManageSieve, against sieved.
func TestSievectlServer(t *testing.T) {
	e := newSmtpdEnv(t, sievedLimits)
	sievectlFiles(t, e.dir)
	files, addr := e.listenersFor(sievedRoles)
	p := e.startDaemon("sieved", sievedRoles, files, addr)
	server := []string{"--server", addr["sieve"], "--user", smtpdUser, "--insecure"}
	ctl := func(want int, args ...string) result {
		t.Helper()
		return sievectl(t, e.dir, nil, want, append(append(args, server...), "--password-file", "password")...)
	}
	ctl(0, "put", "main", "good.sieve", "--activate")
	if r := ctl(0, "list"); r.stdout != "main (active)\n" {
		t.Errorf("list: %q", r.stdout)
	}
	if r := ctl(0, "get", "main"); r.stdout != goodSieve {
		t.Errorf("get: %q", r.stdout)
	}
	r := ctl(1, "put", "broken", "bad.sieve")
	if !strings.Contains(r.stderr, "bad.sieve: line 3, column 3") {
		t.Errorf("put of a bad script: %q", r.stderr)
	}
	ctl(67, "get", "nope")
	ctl(0, "rename", "main", "renamed")
	ctl(0, "deactivate")
	ctl(0, "delete", "renamed")
	// The password from the environment; a wrong one is status 77.
	r = sievectl(t, e.dir, []string{"SIEVECTL_PASSWORD=" + smtpdPassword}, 0, append([]string{"list", "--json"}, server...)...)
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list --json: %q", r.stdout)
	}
	sievectl(t, e.dir, []string{"SIEVECTL_PASSWORD=wrong"}, 77, append([]string{"list"}, server...)...)
	// Without --insecure the self-signed certificate is refused.
	sievectl(t, e.dir, []string{"SIEVECTL_PASSWORD=" + smtpdPassword}, 1, "list", "--server", addr["sieve"], "--user", smtpdUser)
	if status := p.stop(); status != 0 {
		t.Errorf("sieved exited %d on SIGTERM\n%s", status, p.stderr)
	}
}

// put of a script including another of the account's scripts, in the
// store and over ManageSieve: accepted once the included script exists,
// accepted with a warning before.
func TestSievectlInclude(t *testing.T) {
	e := newSmtpdEnv(t, includeLimits)
	sievectlFiles(t, e.dir)
	for name, content := range map[string]string{
		"main.sieve":    includeSieve,
		"missing.sieve": "require \"include\";\ninclude \"absent\";\n",
	} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, addr := e.listenersFor(sievedRoles)
	p := e.startDaemon("sieved", sievedRoles, files, addr)
	for _, where := range [][]string{
		{"--config", e.config, "--account", smtpdUser},
		{"--server", addr["sieve"], "--user", smtpdUser, "--insecure", "--password-file", "password"},
	} {
		ctl := func(want int, args ...string) result {
			t.Helper()
			return sievectl(t, e.dir, nil, want, append(args, where...)...)
		}
		ctl(0, "put", "helper", "good.sieve")
		if r := ctl(0, "put", "main", "main.sieve", "--activate"); r.stderr != "" {
			t.Errorf("%s: put including an existing script said %q", where[0], r.stderr)
		}
		r := ctl(0, "put", "early", "missing.sieve")
		if want := "missing.sieve: warning: line 2: included personal script 'absent' does not exist (ignored during upload)\n"; r.stderr != want {
			t.Errorf("%s: put including a missing script said %q, want %q", where[0], r.stderr, want)
		}
		ctl(0, "deactivate")
		for _, name := range []string{"main", "early", "helper"} {
			ctl(0, "delete", name)
		}
	}
	if status := p.stop(); status != 0 {
		t.Errorf("sieved exited %d on SIGTERM\n%s", status, p.stderr)
	}
}
