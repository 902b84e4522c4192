package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// TestChangeLogHorizon prunes the whole change log and checks that a
// QRESYNC client from before it and a session selected before it still
// learn of every expunge and flag change.
func TestChangeLogHorizon(t *testing.T) {
	h := newHarness(t)
	for i := range 6 {
		h.deliver("INBOX", plainMsg(fmt.Sprint("m", i), "x"))
	}
	a := h.login(t)
	a.cmd("a ENABLE QRESYNC")
	sel := a.cmd("b SELECT INBOX")
	uv, hms := code(t, sel, "UIDVALIDITY"), code(t, sel, "HIGHESTMODSEQ")
	a.cmd("c LOGOUT")

	// A session that stays selected, without a command, while the rest
	// happens.
	old := h.login(t)
	old.cmd("s SELECT INBOX")

	b := h.dial(nil)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint32{2, 3, 5} {
		f := goimap.FlagDeleted
		if seq == 2 {
			f = goimap.FlagSeen
		}
		if err := b.Store(goimap.SeqSetNum(seq), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{f}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	h.deliver("INBOX", plainMsg("new", "y"))
	// UIDs left: 1, 2 (\Seen), 4, 6, 7 (new); gone: 3, 5.

	n, err := h.st.PruneChanges(context.Background(), time.Now().Add(time.Hour))
	if err != nil || n == 0 {
		t.Fatalf("PruneChanges: %d, %v", n, err)
	}

	r := h.login(t)
	r.cmd("a ENABLE QRESYNC")
	lines := r.cmd(fmt.Sprintf("b SELECT INBOX (QRESYNC (%d %d))", uv, hms))
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "* OK [HIGHESTMODSEQ ") })
	if i < 0 {
		t.Fatalf("SELECT: %q", lines)
	}
	want := []string{
		"* VANISHED (EARLIER) 3,5",
		`* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (N))`,
		`* 5 FETCH (UID 7 FLAGS (\Recent) MODSEQ (N))`, // rev1: new to this session
		"b OK [READ-WRITE] SELECT completed",
	}
	if got := stripModSeq(lines[i+1:]); !slices.Equal(got, want) {
		t.Errorf("QRESYNC from beyond the horizon:\n got %q\nwant %q", got, want)
	}

	// The session selected before the pruning is told the same (UID 7
	// was \Recent to the session above).
	lines = old.cmd("t NOOP")
	want = []string{"* 5 EXPUNGE", "* 3 EXPUNGE", "* 5 EXISTS", "* 0 RECENT", `* 2 FETCH (UID 2 FLAGS (\Seen))`, "t OK NOOP completed"}
	if !slices.Equal(lines, want) {
		t.Errorf("selected session across the horizon:\n got %q\nwant %q", lines, want)
	}

	// Pruning again with nothing old left removes nothing and keeps one
	// marker.
	if n, err := h.st.PruneChanges(context.Background(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("second PruneChanges: %d, %v", n, err)
	}
}
