package imap

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

// login opens a raw session over implicit TLS and logs in.
func (h *harness) login(t *testing.T) *rawConn {
	t.Helper()
	r := h.raw(t, true)
	if got := last(r.cmd(fmt.Sprintf("l0 LOGIN %s %q", demo, password))); !strings.HasPrefix(got, "l0 OK") {
		t.Fatalf("LOGIN: %q", got)
	}
	return r
}

// code returns the number of the response code name in lines, or fails.
func code(t *testing.T, lines []string, name string) uint64 {
	t.Helper()
	re := regexp.MustCompile(`\[` + name + ` (\d+)\]`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in %q", name, lines)
	return 0
}

// modseqRe finds the MODSEQ of a FETCH response.
var modseqRe = regexp.MustCompile(`MODSEQ \((\d+)\)`)

func modseqOf(t *testing.T, line string) uint64 {
	t.Helper()
	m := modseqRe.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no MODSEQ in %q", line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// stripModSeq replaces mod-sequence values by "N", for comparing lines.
func stripModSeq(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = modseqRe.ReplaceAllString(l, "MODSEQ (N)")
	}
	return out
}

// TestCondstore drives CONDSTORE (RFC 7162 section 3.1) with imapclient:
// HIGHESTMODSEQ in SELECT and STATUS, FETCH MODSEQ and CHANGEDSINCE,
// conditional STORE and SEARCH MODSEQ.
func TestCondstore(t *testing.T) {
	h := newHarness(t)
	for i := range 3 {
		h.deliver("INBOX", plainMsg(fmt.Sprint("m", i), "x"))
	}
	c := h.dial(nil)
	if !c.Caps().Has(goimap.CapCondStore) || !c.Caps().Has(goimap.CapQResync) {
		t.Fatalf("capabilities: %v", c.Caps())
	}
	sel, err := c.Select("INBOX", &goimap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.HighestModSeq == 0 {
		t.Fatalf("SELECT (CONDSTORE): no HIGHESTMODSEQ: %+v", sel)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{UID: true, ModSeq: true}).Collect()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("FETCH MODSEQ: %v %+v", err, msgs)
	}
	for _, m := range msgs {
		if m.ModSeq == 0 || m.ModSeq > sel.HighestModSeq {
			t.Errorf("message %d: MODSEQ %d, HIGHESTMODSEQ %d", m.UID, m.ModSeq, sel.HighestModSeq)
		}
	}
	old := msgs[1].ModSeq

	// A conditional STORE that passes reports the new mod-sequence.
	flagged := &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}}
	got, err := c.Store(goimap.SeqSetNum(2), flagged, &goimap.StoreOptions{UnchangedSince: old}).Collect()
	if err != nil || len(got) != 1 || got[0].ModSeq <= sel.HighestModSeq || !slices.Contains(got[0].Flags, goimap.FlagFlagged) {
		t.Fatalf("conditional STORE: %v %+v", err, got)
	}
	newModSeq := got[0].ModSeq

	// CHANGEDSINCE returns the changed message only, with MODSEQ.
	msgs, err = c.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{UID: true, Flags: true, ChangedSince: sel.HighestModSeq}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 2 || msgs[0].ModSeq != newModSeq {
		t.Fatalf("FETCH (CHANGEDSINCE %d): %v %+v", sel.HighestModSeq, err, msgs)
	}

	// SEARCH MODSEQ finds it and tells the highest mod-sequence.
	sr, err := c.UIDSearch(&goimap.SearchCriteria{ModSeq: &goimap.SearchCriteriaModSeq{ModSeq: sel.HighestModSeq + 1}}, nil).Wait()
	if err != nil || !slices.Equal(sr.AllUIDs(), []goimap.UID{2}) || sr.ModSeq != newModSeq {
		t.Errorf("UID SEARCH MODSEQ: %v %+v", err, sr)
	}

	st, err := c.Status("INBOX", &goimap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil || st.HighestModSeq != newModSeq {
		t.Errorf("STATUS HIGHESTMODSEQ: %v %+v, want %d", err, st, newModSeq)
	}

	// On the wire: a STORE whose messages changed since fails for them
	// with MODIFIED and leaves them alone; .SILENT still tells MODSEQ.
	r := h.login(t)
	r.cmd("a SELECT INBOX")
	lines := r.cmd(fmt.Sprintf("b STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Seen)", sel.HighestModSeq))
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "* OK [HIGHESTMODSEQ ") ||
		!regexp.MustCompile(`^\* 1 FETCH \(MODSEQ \(\d+\)\)$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^\* 3 FETCH \(MODSEQ \(\d+\)\)$`).MatchString(lines[2]) ||
		lines[3] != "b OK [MODIFIED 2] Conditional STORE failed" {
		t.Errorf("conditional STORE: %q", lines)
	}
	lines = r.cmd("c UID STORE 2 (UNCHANGEDSINCE 0) -FLAGS (\\Flagged)")
	if last(lines) != "c OK [MODIFIED 2] Conditional STORE failed" || len(lines) != 1 {
		t.Errorf("UNCHANGEDSINCE 0: %q", lines)
	}
	lines = r.cmd("d FETCH 2 (FLAGS MODSEQ)")
	if !strings.Contains(lines[0], `\Flagged`) || strings.Contains(lines[0], `\Seen`) || modseqOf(t, lines[0]) != newModSeq {
		t.Errorf("message 2 after failed STOREs: %q", lines)
	}
	// Once enabled, flag changes made elsewhere arrive with MODSEQ.
	if _, err := c.Store(goimap.SeqSetNum(3), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{"$Work"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	lines = r.cmd("e NOOP")
	if len(lines) != 2 || !regexp.MustCompile(`^\* 3 FETCH \(UID 3 FLAGS \(\$Work \\Seen\) MODSEQ \(\d+\)\)$`).MatchString(lines[0]) {
		t.Errorf("unsolicited FETCH: %q", lines)
	}
	if got := r.cmd("f SEARCH MODSEQ \"/flags/\\\\flagged\" all 1"); got[0] != fmt.Sprintf("* SEARCH 1 2 3 (MODSEQ %d)", modseqOf(t, lines[0])) {
		t.Errorf("SEARCH MODSEQ with an entry: %q", got)
	}
	if got := last(r.cmd("g FETCH 1 (FLAGS) (CHANGEDSINCE x)")); !strings.HasPrefix(got, "g BAD") {
		t.Errorf("bad CHANGEDSINCE: %q", got)
	}
	if got := last(r.cmd("h UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")); !strings.HasPrefix(got, "h BAD") {
		t.Errorf("VANISHED without QRESYNC: %q", got)
	}
}

// TestQresync changes a mailbox in one session while another is away,
// then checks that the other, resynchronising with QRESYNC, hears of
// exactly those changes (RFC 7162 section 3.2).
func TestQresync(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		h.deliver("INBOX", plainMsg(fmt.Sprint("m", i), "x"))
	}
	a := h.login(t)
	if got := a.cmd("a SELECT INBOX (QRESYNC (1 1))"); !strings.HasPrefix(last(got), "a BAD") {
		t.Errorf("QRESYNC before ENABLE: %q", got)
	}
	if got := a.cmd("b ENABLE QRESYNC"); got[0] != "* ENABLED QRESYNC" {
		t.Errorf("ENABLE QRESYNC: %q", got)
	}
	sel := a.cmd("c SELECT INBOX")
	uv, hms := code(t, sel, "UIDVALIDITY"), code(t, sel, "HIGHESTMODSEQ")
	a.cmd("d LOGOUT")

	// Meanwhile: a flag change, two expunges, a delivery, a move.
	b := h.dial(nil)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	store := func(seq uint32, f goimap.Flag) {
		t.Helper()
		if err := b.Store(goimap.SeqSetNum(seq), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{f}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	store(2, goimap.FlagSeen)
	store(3, goimap.FlagDeleted)
	store(4, goimap.FlagDeleted)
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	h.deliver("INBOX", plainMsg("new", "y"))
	if _, err := b.Move(goimap.UIDSetNum(5), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	// UIDs left: 1, 2 (\Seen), 6 (new); gone: 3, 4, 5.

	r := h.login(t)
	r.cmd("a ENABLE QRESYNC")
	lines := r.cmd(fmt.Sprintf("b SELECT INBOX (QRESYNC (%d %d))", uv, hms))
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "* OK [HIGHESTMODSEQ ") })
	if i < 0 {
		t.Fatalf("SELECT: %q", lines)
	}
	want := []string{
		"* VANISHED (EARLIER) 3:5",
		`* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (N))`,
		"* 3 FETCH (UID 6 FLAGS () MODSEQ (N))",
		"b OK [READ-WRITE] SELECT completed",
	}
	if got := stripModSeq(lines[i+1:]); !slices.Equal(got, want) {
		t.Errorf("QRESYNC SELECT:\n got %q\nwant %q", got, want)
	}
	newHMS := code(t, lines, "HIGHESTMODSEQ")
	if newHMS <= hms || modseqOf(t, lines[i+3]) > newHMS {
		t.Errorf("HIGHESTMODSEQ %d after %d, FETCH %q", newHMS, hms, lines[i+3])
	}

	// Known UIDs narrow the answer; the previous mailbox is CLOSED.
	lines = r.cmd(fmt.Sprintf("c EXAMINE INBOX (QRESYNC (%d %d 1:3))", uv, hms))
	if lines[0] != "* OK [CLOSED] Previous mailbox closed" {
		t.Errorf("no CLOSED: %q", lines)
	}
	i = slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "* OK [HIGHESTMODSEQ ") })
	want = []string{"* VANISHED (EARLIER) 3", `* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (N))`, "c OK [READ-ONLY] EXAMINE completed"}
	if got := stripModSeq(lines[i+1:]); !slices.Equal(got, want) {
		t.Errorf("QRESYNC with known UIDs:\n got %q\nwant %q", got, want)
	}
	// A UIDVALIDITY that does not match: a plain SELECT.
	lines = r.cmd(fmt.Sprintf("d SELECT INBOX (QRESYNC (%d %d))", uv+1, hms))
	if got := lines[len(lines)-2]; !strings.HasPrefix(got, "* OK [HIGHESTMODSEQ ") {
		t.Errorf("QRESYNC with another UIDVALIDITY: %q", lines)
	}

	// UID FETCH with CHANGEDSINCE and VANISHED.
	lines = r.cmd(fmt.Sprintf("e UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", hms))
	want = []string{
		"* VANISHED (EARLIER) 3:5",
		`* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (N))`,
		"* 3 FETCH (UID 6 FLAGS () MODSEQ (N))",
		"e OK FETCH completed",
	}
	if got := stripModSeq(lines); !slices.Equal(got, want) {
		t.Errorf("UID FETCH (CHANGEDSINCE VANISHED):\n got %q\nwant %q", got, want)
	}
	if got := r.cmd(fmt.Sprintf("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", newHMS)); len(got) != 1 {
		t.Errorf("nothing changed since %d: %q", newHMS, got)
	}

	// Live: expunges from elsewhere arrive as VANISHED, not EXPUNGE.
	store(1, goimap.FlagDeleted)
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	// A STORE may not tell of it, but says the client is complete only
	// up to before it.
	lines = r.cmd(`g0 STORE 2 +FLAGS (\Flagged)`)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `* 2 FETCH (FLAGS (\Flagged \Seen) MODSEQ (`) ||
		!strings.HasPrefix(lines[1], "* OK [HIGHESTMODSEQ ") || code(t, lines, "HIGHESTMODSEQ") >= modseqOf(t, lines[0]) {
		t.Errorf("STORE with an expunge pending: %q", lines)
	}
	if got := r.cmd("g NOOP"); len(got) != 2 || got[0] != "* VANISHED 1" {
		t.Errorf("NOOP after an expunge: %q", got)
	}
	// Its own EXPUNGE too, with the new HIGHESTMODSEQ in the tagged OK.
	r.cmd(`h UID STORE 6 +FLAGS.SILENT (\Deleted)`)
	lines = r.cmd("i EXPUNGE")
	if len(lines) != 2 || lines[0] != "* VANISHED 6" || !strings.HasPrefix(lines[1], "i OK [HIGHESTMODSEQ ") {
		t.Fatalf("EXPUNGE: %q", lines)
	}
	final := code(t, lines, "HIGHESTMODSEQ")
	lines = r.cmd(fmt.Sprintf("j UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", newHMS))
	if got := stripModSeq(lines); !slices.Equal(got, []string{"* VANISHED (EARLIER) 1,6", `* 1 FETCH (UID 2 FLAGS (\Flagged \Seen) MODSEQ (N))`, "j OK FETCH completed"}) {
		t.Errorf("VANISHED (EARLIER) after the expunges: %q", got)
	}
	if got := r.cmd(`k STATUS INBOX (HIGHESTMODSEQ MESSAGES)`); got[0] != fmt.Sprintf("* STATUS INBOX (HIGHESTMODSEQ %d MESSAGES 1)", final) {
		t.Errorf("STATUS: %q, want HIGHESTMODSEQ %d", got, final)
	}
}
