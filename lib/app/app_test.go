package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"gannet/lib/config"
)

// run runs a with args, capturing output and the exit status the exit
// handler asks for (-1 when it asks for none).
func run(t *testing.T, a *cli.App, args ...string) (stdout, stderr string, status int, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	a.Writer, a.ErrWriter = &out, &errb
	status = -1
	old := cli.OsExiter
	cli.OsExiter = func(code int) { status = code }
	defer func() { cli.OsExiter = old }()
	Prepare(a)
	err = a.RunContext(context.Background(), append([]string{a.Name}, args...))
	return out.String(), errb.String(), status, err
}

func TestVersion(t *testing.T) {
	for _, flag := range []string{"--version", "-V"} {
		out, _, status, err := run(t, NewApp("queuectl", "test"), flag)
		if err != nil || status > 0 {
			t.Fatalf("%s: err %v, status %d", flag, err, status)
		}
		if want := "queuectl " + Version + "\n"; out != want {
			t.Errorf("%s printed %q, want %q", flag, out, want)
		}
	}
}

func TestHelpListsConfig(t *testing.T) {
	out, _, _, err := run(t, NewApp("queuectl", "test"), "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--config FILE, -c FILE", "GANNET_CONFIG", config.DefaultPath, "--version, -V"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q:\n%s", want, out)
		}
	}
}

func TestNotImplemented(t *testing.T) {
	a := NewApp("sievectl", "test")
	a.Commands = []*cli.Command{{Name: "check", Action: NotImplementedAction("checking scripts", 8)}}
	_, stderr, status, _ := run(t, a, "check")
	if status != 2 {
		t.Errorf("status %d, want 2", status)
	}
	if want := "sievectl: checking scripts is not implemented yet (issue #8)\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

func TestErrorStatus(t *testing.T) {
	a := NewApp("banctl", "test")
	a.Action = func(*cli.Context) error { return errors.New("database is on fire") }
	_, stderr, status, _ := run(t, a)
	if status != 1 || stderr != "banctl: database is on fire\n" {
		t.Errorf("status %d, stderr %q; want 1 and the error", status, stderr)
	}
}

func TestUsageError(t *testing.T) {
	a := NewApp("queuectl", "test")
	a.Commands = []*cli.Command{{Name: "list", Action: func(*cli.Context) error { return nil }}}
	for _, args := range [][]string{{"--no-such-flag"}, {"list", "--no-such-flag"}} {
		_, stderr, status, _ := run(t, a, args...)
		if status != 2 || !strings.Contains(stderr, "no-such-flag") {
			t.Errorf("%v: status %d, stderr %q; want 2 and the flag named", args, status, stderr)
		}
	}
}

func TestConfigFlagFromEnv(t *testing.T) {
	t.Setenv("GANNET_CONFIG", "/from/env.toml")
	a := NewApp("userctl", "test")
	var got string
	a.Action = func(c *cli.Context) error { got = c.String(ConfigFlagName); return nil }
	if _, _, _, err := run(t, a); err != nil {
		t.Fatal(err)
	}
	if got != "/from/env.toml" {
		t.Errorf("config = %q, want the environment's", got)
	}
	if _, _, _, err := run(t, a, "-c", "/from/flag.toml"); err != nil {
		t.Fatal(err)
	}
	if got != "/from/flag.toml" {
		t.Errorf("config = %q, want the flag's", got)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, config.Log{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", "v")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %q: %v", buf.String(), err)
	}
	if rec["msg"] != "shown" || rec["k"] != "v" {
		t.Errorf("record %v", rec)
	}
	for _, bad := range []config.Log{{Level: "loud"}, {Format: "xml"}} {
		if _, err := NewLogger(&buf, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestNotImplementedWithoutIssue(t *testing.T) {
	a := NewApp("jmapd", "test")
	a.Action = NotImplementedAction("serving JMAP", 0)
	_, stderr, status, _ := run(t, a)
	if want := "jmapd: serving JMAP is not implemented yet (no issue filed yet)\n"; status != 2 || stderr != want {
		t.Errorf("status %d, stderr %q; want 2, %q", status, stderr, want)
	}
}

func TestSetUsageStatus(t *testing.T) {
	a := NewApp("deliver", "test")
	SetUsageStatus(a, 64)
	a.Action = func(*cli.Context) error { return nil }
	_, stderr, status, _ := run(t, a, "--bogus")
	if status != 64 || !strings.Contains(stderr, "bogus") {
		t.Errorf("status %d, stderr %q; want 64 and the flag named", status, stderr)
	}
}
