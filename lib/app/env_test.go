package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"gannet/lib/notify"
	"gannet/lib/store"
)

// loadEnv runs a program whose action loads the configuration at path and
// hands its Env to fn.
func loadEnv(t *testing.T, path string, fn func(*Env) error) (stderr string, status int) {
	t.Helper()
	a := NewApp("userctl", "test")
	a.Action = func(c *cli.Context) error {
		env, err := Load(c)
		if err != nil {
			return err
		}
		defer env.Close()
		return fn(env)
	}
	_, stderr, status, _ = run(t, a, "--config", path)
	return stderr, status
}

func writeConfig(t *testing.T, body string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "gannet.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// TestOpenStoreAnnounces checks the wiring: the store opens where the
// configuration says, and a change committed through it reaches a listener
// on the change feed, as a daemon in another process would hear it.
func TestOpenStoreAnnounces(t *testing.T) {
	path, dir := writeConfig(t, "")
	body := "[server]\nhostname = \"mx.example.test\"\nstate_dir = \"" + dir + "\"\nruntime_dir = \"" + dir + "/run\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr, status := loadEnv(t, path, func(env *Env) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := os.MkdirAll(env.Config.NotifyDir(), 0o755); err != nil {
			return err
		}
		l, err := notify.Listen(ctx, env.Config.NotifyDir())
		if err != nil {
			return err
		}
		defer l.Close()
		events, stop := l.Subscribe(0)
		defer stop()

		st, err := env.OpenStore(ctx)
		if err != nil {
			return err
		}
		if again, _ := env.OpenStore(ctx); again != st {
			t.Error("OpenStore opened the store twice")
		}
		dir, err := env.Directory(ctx)
		if err != nil || dir == nil {
			t.Fatalf("Directory: %v", err)
		}
		if err := st.CreateDomain(ctx, &store.Domain{Name: "example.test"}); err != nil {
			return err
		}
		acct := &store.Account{Address: "demo@example.test"}
		if err := st.CreateAccount(ctx, acct); err != nil {
			return err
		}
		if err := st.CreateMailbox(ctx, &store.Mailbox{AccountID: acct.ID, Name: "Projects"}); err != nil {
			return err
		}
		for {
			select {
			case ev := <-events:
				if ev.AccountID == acct.ID {
					return nil
				}
			case <-ctx.Done():
				t.Error("no change event for the account")
				return nil
			}
		}
	})
	if status > 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "gannet.db")); err != nil {
		t.Errorf("the store is not at state_dir/gannet.db: %v", err)
	}
}

func TestLoadReportsConfigErrors(t *testing.T) {
	path, _ := writeConfig(t, "[server]\nhostname = \"mx.example.test\"\nstate_dir = \"/x\"\nhostnme = \"a\"\n")
	stderr, status := loadEnv(t, path, func(*Env) error { return nil })
	if status != 1 || !strings.Contains(stderr, path+":4") || !strings.Contains(stderr, "server.hostnme") {
		t.Errorf("status %d, stderr %q; want 1 and file:line: key", status, stderr)
	}
}

func TestLoadLogger(t *testing.T) {
	path, dir := writeConfig(t, "")
	body := "[server]\nhostname = \"mx.example.test\"\nstate_dir = \"" + dir + "\"\n[log]\nlevel = \"warn\"\nformat = \"json\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var got *Env
	if stderr, status := loadEnv(t, path, func(env *Env) error { got = env; return nil }); status > 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	if got.Log.Enabled(context.Background(), -4) || !got.Log.Enabled(context.Background(), 4) {
		t.Error("the logger does not follow log.level")
	}
}
