package imap

import (
	"strings"
	"testing"
)

// TestRecent checks \Recent across sessions (RFC 3501 section 2.3.2): the
// first IMAP4rev1 session to select a mailbox read-write after a message
// arrives sees it \Recent, no other session does, EXAMINE only looks, and
// IMAP4rev2 sessions never see it.
func TestRecent(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", plainMsg("one", "1"))
	h.deliver("INBOX", plainMsg("two", "2"), `\Seen`)
	a, b, rev2 := h.login(t), h.login(t), h.login(t)
	if got := rev2.cmd("e ENABLE IMAP4rev2"); got[0] != "* ENABLED IMAP4rev2" {
		t.Fatalf("ENABLE: %q", got)
	}
	if got := a.cmd("s0 STATUS INBOX (RECENT MESSAGES)"); got[0] != "* STATUS INBOX (RECENT 2 MESSAGES 2)" {
		t.Errorf("STATUS RECENT: %q", got)
	}
	// EXAMINE shows \Recent and takes nothing away.
	if got := a.cmd("x EXAMINE INBOX"); !has(got, "* 2 RECENT") {
		t.Errorf("EXAMINE: %q", got)
	}
	if got := a.cmd("x1 FETCH 1 FLAGS"); got[0] != `* 1 FETCH (FLAGS (\Recent))` {
		t.Errorf("FETCH after EXAMINE: %q", got)
	}
	if got := b.cmd("s1 STATUS INBOX (RECENT)"); got[0] != "* STATUS INBOX (RECENT 2)" {
		t.Errorf("STATUS RECENT after EXAMINE: %q", got)
	}
	// SELECT takes the two messages for a.
	if got := a.cmd("s SELECT INBOX"); !has(got, "* 2 RECENT") {
		t.Errorf("first SELECT: %q", got)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"f1 FETCH 1:2 FLAGS", `* 1 FETCH (FLAGS (\Recent))`},
		{"f2 SEARCH RECENT", "* SEARCH 1 2"},
		{"f3 SEARCH NEW", "* SEARCH 1"},
		{"f4 SEARCH OLD", "* SEARCH"},
	} {
		if got := a.cmd(tc.cmd); got[0] != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	if got := a.cmd("f5 FETCH 2 FLAGS"); got[0] != `* 2 FETCH (FLAGS (\Seen \Recent))` {
		t.Errorf("FETCH 2: %q", got)
	}
	// \Recent is a session flag: STORE cannot set or clear it.
	a.cmd(`st STORE 1 -FLAGS (\Seen)`)
	if got := a.cmd("f6 FETCH 1 FLAGS"); got[0] != `* 1 FETCH (FLAGS (\Recent))` {
		t.Errorf("FETCH after STORE: %q", got)
	}
	if got := b.cmd("s2 STATUS INBOX (RECENT)"); got[0] != "* STATUS INBOX (RECENT 0)" {
		t.Errorf("STATUS RECENT after SELECT: %q", got)
	}
	if got := b.cmd("s SELECT INBOX"); !has(got, "* 0 RECENT") {
		t.Errorf("second SELECT: %q", got)
	}
	if got := b.cmd("g SEARCH RECENT"); got[0] != "* SEARCH" {
		t.Errorf("SEARCH RECENT in the second session: %q", got)
	}
	// A message arriving while both have INBOX selected is \Recent to the
	// first to hear of it.
	h.deliver("INBOX", plainMsg("three", "3"))
	if got := a.cmd("n NOOP"); !has(got, "* 3 EXISTS") || !has(got, "* 3 RECENT") {
		t.Errorf("NOOP in a: %q", got)
	}
	if got := b.cmd("n NOOP"); !has(got, "* 3 EXISTS") || !has(got, "* 0 RECENT") {
		t.Errorf("NOOP in b: %q", got)
	}
	if got := b.cmd("f FETCH 3 FLAGS"); got[0] != `* 3 FETCH (FLAGS ())` {
		t.Errorf("FETCH 3 in b: %q", got)
	}
	// IMAP4rev2 (RFC 9051 appendix E): no RECENT response, no \Recent.
	h.deliver("INBOX", plainMsg("four", "4"))
	got := rev2.cmd("s SELECT INBOX")
	for _, l := range got {
		if strings.Contains(l, "RECENT") {
			t.Errorf("IMAP4rev2 SELECT: %q", got)
		}
	}
	if got := rev2.cmd("f FETCH 4 FLAGS"); got[0] != `* 4 FETCH (FLAGS ())` {
		t.Errorf("IMAP4rev2 FETCH: %q", got)
	}
	if got := rev2.cmd("s3 STATUS Sent (MESSAGES)"); !strings.HasPrefix(last(got), "s3 OK") {
		t.Errorf("STATUS: %q", got)
	}
	// The fourth message is still \Recent for the next IMAP4rev1 session.
	if got := b.cmd("n2 NOOP"); !has(got, "* 4 EXISTS") || !has(got, "* 1 RECENT") {
		t.Errorf("NOOP in b after the fourth message: %q", got)
	}
}
