package main

import (
	"gannet/lib/app"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gannet/lib/auth"
	"gannet/lib/config"
	"gannet/lib/store/sqlite"
)

// bin is the userctl binary the tests drive, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "userctl-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "userctl")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's configuration and state directory.
type env struct {
	t      *testing.T
	config string
	state  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "gannet.toml")
	// Cheap argon2 keeps the test fast; the format is the same.
	writeFile(t, cfg, fmt.Sprintf(`[server]
hostname = "mx.example.test"
state_dir = %q
runtime_dir = %q

[log]
level = "warn"

[directory.argon2]
time = 1
memory_kib = 64
threads = 1
`, state, filepath.Join(dir, "run")))
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, config: cfg, state: state}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// result is what one run of userctl did.
type result struct {
	stdout, stderr string
	status         int
}

// run runs userctl with stdin and args, as a shell would.
func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(bin, append([]string{"--config", e.config}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "GANNET_CONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	status := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return result{out.String(), errb.String(), status}
}

// ok runs userctl and fails the test unless it exits 0.
func (e *env) ok(stdin string, args ...string) string {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.status != 0 {
		e.t.Fatalf("userctl %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.status, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs userctl and checks its status and that stderr holds msg.
func (e *env) fails(status int, msg string, args ...string) {
	e.t.Helper()
	r := e.run("", args...)
	if r.status != status || !strings.Contains(r.stderr, msg) {
		e.t.Errorf("userctl %s: status %d, stderr %q; want %d and %q", strings.Join(args, " "), r.status, r.stderr, status, msg)
	}
}

func (e *env) json(v any, args ...string) {
	e.t.Helper()
	out := e.ok("", args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("userctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// login checks a password against the store as a daemon would.
func (e *env) login(user, password string) error {
	e.t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Path: cfg.DatabasePath(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	a := &auth.Authenticator{Store: st, CacheTTL: -1}
	_, err = a.Login(ctx, user, password)
	return err
}

func TestUserctl(t *testing.T) {
	e := newEnv(t)

	// Domains.
	e.ok("", "domain", "add", "example.test", "Bücher.Example")
	var doms []domainView
	e.json(&doms, "domain", "list", "--json")
	if len(doms) != 2 || doms[0].Name != "example.test" && doms[1].Name != "example.test" {
		t.Fatalf("domains %+v", doms)
	}
	if !slices.ContainsFunc(doms, func(d domainView) bool { return d.Name == "xn--bcher-kva.example" }) {
		t.Errorf("IDN domain not stored as A-labels: %+v", doms)
	}
	e.fails(1, "already exists", "domain", "add", "EXAMPLE.test")
	e.fails(65, "invalid address", "domain", "add", "bad..domain")

	// Users: password from stdin, options after the address.
	e.ok("sesame\n", "user", "add", "Alice@Example.Test", "--password-stdin", "--name", "Alice Liddell")
	pw := strings.TrimSpace(e.ok("", "user", "add", "--random-password", "bob@bücher.example"))
	if !regexp.MustCompile(`^[a-z2-7]{5}(-[a-z2-7]{5}){3}$`).MatchString(pw) {
		t.Errorf("random password %q", pw)
	}
	if err := e.login("alice@example.test", "sesame"); err != nil {
		t.Errorf("alice cannot log in: %v", err)
	}
	if err := e.login("BOB@BÜCHER.EXAMPLE", pw); err != nil {
		t.Errorf("bob cannot log in with the printed password: %v", err)
	}
	e.fails(1, "already an account", "user", "add", "--random-password", "alice@example.test")
	e.fails(67, "userctl: domain nowhere.test: no such domain", "user", "add", "--random-password", "x@nowhere.test")
	e.fails(2, "no terminal", "user", "add", "carol@example.test")
	e.fails(2, "only one of", "user", "add", "--random-password", "--password-stdin", "carol@example.test")
	r := e.run("\n", "user", "add", "--password-stdin", "carol@example.test")
	if r.status != 65 || !strings.Contains(r.stderr, "empty password") {
		t.Errorf("empty password: %+v", r)
	}

	var users []userView
	e.json(&users, "user", "list", "--json")
	if len(users) != 2 {
		t.Fatalf("users %+v", users)
	}
	for _, u := range users {
		if !u.HasPassword || u.Disabled {
			t.Errorf("user %+v", u)
		}
	}
	e.json(&users, "user", "list", "--json", "bücher.example")
	if len(users) != 1 || users[0].Address != "bob@xn--bcher-kva.example" {
		t.Errorf("users of bücher.example: %+v", users)
	}
	if out := e.ok("", "user", "list"); !strings.Contains(out, "alice@example.test") || !strings.Contains(out, "Alice Liddell") {
		t.Errorf("user list:\n%s", out)
	}

	// Passwords.
	pwFile := filepath.Join(t.TempDir(), "pw")
	writeFile(t, pwFile, "open sesame\n")
	e.ok("", "user", "passwd", "alice@example.test", "--password-file", pwFile)
	if err := e.login("alice@example.test", "sesame"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("old password still works: %v", err)
	}
	if err := e.login("alice@example.test", "open sesame"); err != nil {
		t.Errorf("new password: %v", err)
	}
	e.fails(67, "userctl: user nobody@example.test: no such account", "user", "passwd", "--random-password", "nobody@example.test")
	e.fails(67, "userctl: user nobody@example.test: no such account", "user", "show", "nobody@example.test")
	e.fails(67, "no such account", "user", "remove", "nobody@example.test")

	// App passwords.
	var ap struct {
		ID       int64  `json:"id"`
		Label    string `json:"label"`
		Password string `json:"password"`
	}
	e.json(&ap, "user", "app-password", "add", "alice@example.test", "--label", "phone", "--json")
	if err := e.login("alice@example.test", ap.Password); err != nil {
		t.Errorf("app password: %v", err)
	}
	var aps []appPasswordView
	e.json(&aps, "user", "app-password", "list", "--json", "alice@example.test")
	if len(aps) != 1 || aps[0].Label != "phone" || aps[0].ID != ap.ID {
		t.Errorf("app passwords %+v", aps)
	}
	e.ok("", "user", "app-password", "remove", "alice@example.test", fmt.Sprint(ap.ID))
	if err := e.login("alice@example.test", ap.Password); err == nil {
		t.Error("removed app password still works")
	}

	// Disable.
	e.ok("", "user", "disable", "alice@example.test")
	if err := e.login("alice@example.test", "open sesame"); !errors.Is(err, auth.ErrDisabled) {
		t.Errorf("disabled: %v", err)
	}
	e.ok("", "user", "enable", "alice@example.test")

	// Aliases, groups, lists, catch-all, resolution.
	e.ok("", "alias", "add", "info@example.test", "alice@example.test", "friend@remote.test")
	var aliases []aliasView
	e.json(&aliases, "alias", "list", "--json")
	if len(aliases) != 1 || !slices.Equal(aliases[0].Targets, []string{"alice@example.test", "friend@remote.test"}) {
		t.Errorf("aliases %+v", aliases)
	}
	e.ok("", "group", "add", "team@example.test", "alice@example.test")
	e.ok("", "group", "member", "add", "team@example.test", "bob@bücher.example")
	e.ok("", "list", "add", "news@example.test", "outside@remote.test")
	var groups []groupView
	e.json(&groups, "group", "list", "--json")
	if len(groups) != 1 || !slices.Equal(groups[0].Members, []string{"alice@example.test", "bob@xn--bcher-kva.example"}) {
		t.Errorf("groups %+v", groups)
	}
	e.json(&groups, "list", "list", "--json")
	if len(groups) != 1 || groups[0].Address != "news@example.test" {
		t.Errorf("lists %+v", groups)
	}
	e.fails(67, "list team@example.test: no such mailing list", "list", "remove", "team@example.test")
	e.ok("", "group", "member", "remove", "team@example.test", "bob@xn--bcher-kva.example")

	var res resolutionView
	e.json(&res, "resolve", "--json", "Info+Tag@Example.Test")
	if !res.Exists || len(res.Accounts) != 1 || res.Accounts[0].Account != "alice@example.test" ||
		res.Accounts[0].Detail != "tag" || !slices.Equal(res.Forward, []string{"friend@remote.test"}) {
		t.Errorf("resolve info+tag: %+v", res)
	}
	e.fails(67, "address whoever@example.test: no such address", "resolve", "whoever@example.test")
	e.ok("", "domain", "catch-all", "example.test", "alice@example.test")
	if out := e.ok("", "domain", "catch-all", "example.test"); out != "alice@example.test\n" {
		t.Errorf("catch-all shows %q", out)
	}
	e.json(&res, "resolve", "--json", "whoever@example.test")
	if !res.Exists || res.Accounts[0].Via != "@example.test" {
		t.Errorf("catch-all resolution: %+v", res)
	}
	e.ok("", "domain", "catch-all", "--clear", "example.test")
	e.fails(67, "no such account", "domain", "catch-all", "example.test", "nobody@example.test")

	// Quotas.
	e.ok("", "quota", "set", "alice@example.test", "--bytes", "1G", "--messages", "5000")
	var q quotaView
	e.json(&q, "quota", "show", "--json", "alice@example.test")
	if q.QuotaBytes != 1<<30 || q.QuotaMessages != 5000 {
		t.Errorf("quota %+v", q)
	}
	e.ok("", "quota", "set", "alice@example.test", "--bytes", "500M")
	var u userView
	e.json(&u, "user", "show", "--json", "alice@example.test")
	if u.QuotaBytes != 500<<20 || u.QuotaMessages != 5000 || u.UsedBytes == nil ||
		!slices.Contains(u.Addresses, "info@example.test") || !slices.Contains(u.Addresses, "team@example.test") {
		t.Errorf("user show %+v", u)
	}
	e.fails(65, "size", "quota", "set", "alice@example.test", "--bytes", "lots")
	e.fails(2, "give --bytes", "quota", "set", "alice@example.test")
	e.fails(67, "no such account", "quota", "set", "nobody@example.test", "--bytes", "1G")

	// Spam thresholds: the configured ones until the account has its own.
	var sv spamView
	e.json(&sv, "spam", "show", "--json", "alice@example.test")
	if sv.Own || sv.Spam != 5 || sv.Reject != 15 {
		t.Errorf("spam show before set: %+v", sv)
	}
	e.ok("", "spam", "set", "alice@example.test", "--threshold", "3.5", "--reject", "10")
	e.json(&sv, "spam", "show", "--json", "alice@example.test")
	if !sv.Own || sv.Spam != 3.5 || sv.Reject != 10 {
		t.Errorf("spam show after set: %+v", sv)
	}
	if out := e.ok("", "spam", "show", "alice@example.test"); out != "threshold 3.5, reject 10 (the account's own)\n" {
		t.Errorf("spam show: %q", out)
	}
	e.fails(65, "below the threshold", "spam", "set", "alice@example.test", "--threshold", "8", "--reject", "4")
	e.fails(65, "want a number", "spam", "set", "alice@example.test", "--threshold", "high")
	e.ok("", "spam", "reset", "alice@example.test")
	e.json(&sv, "spam", "show", "--json", "alice@example.test")
	if sv.Own {
		t.Errorf("spam show after reset: %+v", sv)
	}

	// Removal.
	e.fails(1, "still has", "domain", "remove", "example.test")
	e.ok("", "alias", "remove", "info@example.test")
	e.ok("", "group", "remove", "team@example.test")
	e.ok("", "list", "remove", "news@example.test")
	e.ok("", "user", "remove", "alice@example.test")
	e.ok("", "domain", "remove", "example.test")
	e.fails(67, "alias info@example.test: no such alias", "alias", "remove", "info@example.test")
	e.json(&doms, "domain", "list", "--json")
	if len(doms) != 1 {
		t.Errorf("domains after removal %+v", doms)
	}

	// Usage errors.
	e.fails(2, "", "user", "add")
	e.fails(2, "", "user", "frobnicate")
	e.fails(2, "", "user", "list", "--no-such-flag")
}

func TestConfigCheck(t *testing.T) {
	e := newEnv(t)
	if out := e.ok("", "config", "check"); out != e.config+": OK\n" {
		t.Errorf("good file: %q", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	writeFile(t, bad, `[server]
hostname = "mx.example.test"
state_dir = "/var/lib/gannet"

[smtpd]
max_recipents = 10
idle_timeout = "soon"
`)
	r := e.run("", "config", "check", bad)
	if r.status != 1 {
		t.Errorf("bad file: status %d", r.status)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile("^" + regexp.QuoteMeta(bad) + `:6: smtpd\.max_recipents: `),
		regexp.MustCompile("^" + regexp.QuoteMeta(bad) + `:7: smtpd\.idle_timeout: `),
	}
	if len(lines) != len(want) {
		t.Fatalf("bad file: stderr\n%s", r.stderr)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d: %q does not match %s", i, lines[i], re)
		}
	}
	// Several files: each good one is OK, the status says one was not.
	r = e.run("", "config", "check", e.config, bad)
	if r.status != 1 || r.stdout != e.config+": OK\n" {
		t.Errorf("two files: %+v", r)
	}
	// Other commands refuse to run on a bad file, with EX_CONFIG.
	r = e.run("", "--config", bad, "user", "list")
	if r.status != 78 || !strings.Contains(r.stderr, "userctl: "+bad+":6: smtpd.max_recipents") {
		t.Errorf("user list with a bad config: %+v", r)
	}
	r = e.run("", "config", "check", filepath.Join(t.TempDir(), "missing.toml"))
	if r.status != 1 || !strings.Contains(r.stderr, "missing.toml") {
		t.Errorf("missing file: %+v", r)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "unlimited": 0, "1024": 1024, "1K": 1 << 10, "500M": 500 << 20, "1G": 1 << 30,
		"1g": 1 << 30, "2GiB": 2 << 30, "3GB": 3 << 30, "1T": 1 << 40,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1X", "G", "1.5G", "99999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestIntersperse(t *testing.T) {
	a := newApp()
	for _, tt := range []struct{ in, want string }{
		{"userctl quota set a@b --bytes 1G", "userctl quota set --bytes 1G a@b"},
		{"userctl user add a@b --password-stdin --name N", "userctl user add --password-stdin --name N a@b"},
		{"userctl user list --config F --json", "userctl --config F user list --json"},
		{"userctl -c F user add --name=N a@b", "userctl -c F user add --name=N a@b"},
		{"userctl group member add g@b -- --odd@b", "userctl group member add g@b -- --odd@b"},
		{"userctl user add add@b", "userctl user add add@b"},
	} {
		got := strings.Join(app.Intersperse(a, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("Intersperse(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
