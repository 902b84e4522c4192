package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/store"
)

// Tests in this file run real OS processes: the test binary started again
// with GANNET_SQLITE_HELPER set runs TestSQLiteHelperProcess only, which
// does the child's part. Each child opens the store, prints "ready", waits
// for "go" on stdin (so that all children start their work at once), works,
// and prints "ok ..." or exits non-zero with the error.

const helperEnv = "GANNET_SQLITE_HELPER"

// Writer workload per process.
const (
	procWriters   = 4  // processes
	procGoroutine = 4  // goroutines per process
	procMessages  = 12 // AddMessages calls per goroutine
	procMailboxes = 5  // CreateMailbox calls per process
)

func TestSQLiteHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for the multi-process tests")
	}
	if err := helperMain(mode); err != nil {
		fmt.Printf("error: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helperMain(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := os.Getenv("GANNET_SQLITE_PATH")
	in := bufio.NewReader(os.Stdin)
	waitGo := func() error {
		fmt.Println("ready")
		line, err := in.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "go" {
			return fmt.Errorf("waiting for go: %q %v", line, err)
		}
		return nil
	}
	switch mode {
	case "migrate":
		if err := waitGo(); err != nil {
			return err
		}
		s, err := Open(ctx, Options{Path: path, Logger: quietLog})
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Println("ok")
		return nil
	case "write":
		// A short busy timeout makes SQLite give up waiting often, so the
		// store's own retry is what keeps SQLITE_BUSY from the caller.
		s, err := Open(ctx, Options{Path: path, Logger: quietLog, BusyTimeout: 5 * time.Millisecond})
		if err != nil {
			return err
		}
		defer s.Close()
		acct, _ := strconv.ParseInt(os.Getenv("GANNET_SQLITE_ACCOUNT"), 10, 64)
		inbox, _ := strconv.ParseInt(os.Getenv("GANNET_SQLITE_INBOX"), 10, 64)
		proc := os.Getenv("GANNET_SQLITE_PROC")
		if err := waitGo(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		errs := make(chan error, procGoroutine+1)
		for g := range procGoroutine {
			wg.Go(func() {
				for i := range procMessages {
					id := fmt.Sprintf("p%s.g%d.m%d@x", proc, g, i)
					if _, err := s.AddMessages(ctx, []store.NewMessage{newMsg(acct, inbox, id, id)}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Go(func() {
			for i := range procMailboxes {
				m := &store.Mailbox{AccountID: acct, Name: fmt.Sprintf("p%s/box%d", proc, i)}
				if err := s.CreateMailbox(ctx, m); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			return err
		}
		st := s.Stats()
		fmt.Printf("ok commits=%d busy-retries=%d\n", st.Commits, st.BusyRetries)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// child is a running helper process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	log   strings.Builder
}

// startChildren starts n helpers and waits until each has said "ready".
func startChildren(t *testing.T, n int, env func(i int) []string) []*child {
	t.Helper()
	var cs []*child
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), env(i)...)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		cs = append(cs, c)
	}
	for i, c := range cs {
		if !c.out.Scan() || c.out.Text() != "ready" {
			t.Fatalf("child %d did not get ready: %q %v", i, c.out.Text(), c.out.Err())
		}
	}
	return cs
}

// release sends "go" to every child and collects their last lines; any
// child failing fails the test.
func release(t *testing.T, cs []*child) []string {
	t.Helper()
	for _, c := range cs {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	var res []string
	for i, c := range cs {
		var last string
		for c.out.Scan() {
			last = c.out.Text()
			c.log.WriteString(last + "\n")
		}
		err := c.cmd.Wait()
		if err != nil || !strings.HasPrefix(last, "ok") {
			t.Errorf("child %d: exit %v, output:\n%s", i, err, c.log.String())
		}
		res = append(res, last)
	}
	return res
}

// Several processes migrate one fresh database at once: all succeed and the
// schema is applied once.
func TestMigrationRace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for round := range 2 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("race%d.db", round))
		cs := startChildren(t, 4, func(int) []string {
			return []string{helperEnv + "=migrate", "GANNET_SQLITE_PATH=" + path}
		})
		release(t, cs)
		s, err := Open(context.Background(), Options{Path: path, Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		var ver, tables int
		s.rdb.QueryRow("PRAGMA user_version").Scan(&ver)
		s.rdb.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'messages'").Scan(&tables)
		s.Close()
		if ver != SchemaVersion() || tables != 1 {
			t.Errorf("round %d: user_version %d (want %d), messages tables %d", round, ver, SchemaVersion(), tables)
		}
	}
}

// Writers in several processes share one database: nothing is lost, UIDs
// stay unique and dense, and no SQLITE_BUSY reaches a caller.
func TestMultiProcessWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	s := openTest(t)
	f := newFixture(t, s, "u")
	ctx := context.Background()
	before, _ := s.AccountModSeq(ctx, f.acct.ID)

	cs := startChildren(t, procWriters, func(i int) []string {
		return []string{helperEnv + "=write", "GANNET_SQLITE_PATH=" + s.opts.Path,
			fmt.Sprintf("GANNET_SQLITE_ACCOUNT=%d", f.acct.ID), fmt.Sprintf("GANNET_SQLITE_INBOX=%d", f.inbox.ID),
			fmt.Sprintf("GANNET_SQLITE_PROC=%d", i)}
	})
	// The parent writes too, through its own connection.
	parentErr := make(chan error, 1)
	go func() {
		for i := range procMessages {
			id := fmt.Sprintf("parent.%d@x", i)
			if _, err := s.AddMessages(ctx, []store.NewMessage{newMsg(f.acct.ID, f.inbox.ID, id, id)}); err != nil {
				parentErr <- err
				return
			}
		}
		parentErr <- nil
	}()
	for _, line := range release(t, cs) {
		t.Log(line)
	}
	if err := <-parentErr; err != nil {
		t.Fatal(err)
	}

	wantMsgs := procWriters*procGoroutine*procMessages + procMessages
	list, err := s.ListMessages(ctx, f.acct.ID, store.MessageFilter{MailboxID: f.inbox.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != wantMsgs {
		t.Fatalf("%d messages stored, want %d", len(list), wantMsgs)
	}
	seen := map[string]bool{}
	for i, m := range list {
		if m.UID != uint32(i+1) {
			t.Fatalf("UID %d at position %d: not dense", m.UID, i)
		}
		seen[m.Meta.MessageID] = true
	}
	if len(seen) != wantMsgs {
		t.Errorf("%d distinct messages, want %d", len(seen), wantMsgs)
	}
	mbs, _ := s.ListMailboxes(ctx, f.acct.ID)
	if want := len(defaultMailboxes) + procWriters*procMailboxes; len(mbs) != want {
		t.Errorf("%d mailboxes, want %d", len(mbs), want)
	}
	after, _ := s.AccountModSeq(ctx, f.acct.ID)
	wantChanges := wantMsgs + procWriters*procMailboxes
	ch, _ := s.ChangesSince(ctx, f.acct.ID, before, 0)
	if after-before != uint64(wantChanges) || len(ch) != wantChanges {
		t.Errorf("modseq rose by %d, %d changes logged; want %d", after-before, len(ch), wantChanges)
	}
	if u, _ := s.AccountUsage(ctx, f.acct.ID); u.Messages != int64(wantMsgs) {
		t.Errorf("usage %+v, want %d messages", u, wantMsgs)
	}
}
