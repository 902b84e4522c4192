package imap

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

const utf8Msg = "From: Jörg <j@example.test>\r\nTo: demo@example.test\r\nSubject: Grüße\r\n" +
	"Message-ID: <u1@example.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n"

// has reports whether one of lines is want.
func has(lines []string, want string) bool { return slices.Contains(lines, want) }

// TestIMAP4rev2 drives a raw session through ENABLE IMAP4rev2 and checks
// the differences RFC 9051 appendix E makes.
func TestIMAP4rev2(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", utf8Msg)
	h.deliver("INBOX", "Subject: two\r\n\r\nbody\r\n", `\Seen`)

	// An IMAP4rev1 session: RECENT, UNSEEN, SEARCH, 8-bit as literals.
	r1 := h.login(t)
	if caps := r1.cmd("c CAPABILITY")[0]; !strings.Contains(caps, " IMAP4rev1 IMAP4rev2 ") {
		t.Errorf("CAPABILITY: %q", caps)
	}
	sel := r1.cmd("s SELECT INBOX")
	if !has(sel, "* 2 RECENT") || code(t, sel, "UNSEEN") != 1 {
		t.Errorf("rev1 SELECT: %q", sel)
	}
	if got := r1.cmd("f SEARCH ALL"); got[0] != "* SEARCH 1 2" {
		t.Errorf("rev1 SEARCH: %q", got)
	}
	if got := r1.cmd("g FETCH 1 ENVELOPE"); strings.Contains(got[0], `"Grüße"`) {
		t.Errorf("rev1 session got a UTF-8 quoted string: %q", got)
	}

	r := h.login(t)
	if got := r.cmd("e ENABLE IMAP4rev2"); got[0] != "* ENABLED IMAP4rev2" {
		t.Fatalf("ENABLE: %q", got)
	}
	sel = r.cmd("s SELECT INBOX")
	for _, l := range sel {
		if strings.Contains(l, "RECENT") || strings.Contains(l, "[UNSEEN") {
			t.Errorf("rev2 SELECT sent %q", l)
		}
	}
	if !has(sel, `* LIST (\HasNoChildren \Subscribed) "/" INBOX`) {
		t.Errorf("rev2 SELECT without LIST: %q", sel)
	}
	if got := r.cmd("f SEARCH UNSEEN"); got[0] != `* ESEARCH (TAG "f") ALL 1` {
		t.Errorf("rev2 SEARCH: %q", got)
	}
	if got := r.cmd("f2 UID SEARCH SUBJECT nothing"); got[0] != `* ESEARCH (TAG "f2") UID` {
		t.Errorf("rev2 empty UID SEARCH: %q", got)
	}
	got := r.cmd("g FETCH 1 ENVELOPE")
	if !strings.Contains(got[0], `"Grüße"`) || !strings.Contains(got[0], `(("Jörg" NIL "j" "example.test"))`) {
		t.Errorf("rev2 ENVELOPE: %q", got)
	}
	if got := r.cmd(`x SELECT Sent`); !has(got, `* LIST (\HasNoChildren \Subscribed \Sent) "/" Sent`) {
		t.Errorf("rev2 SELECT Sent: %q", got)
	}
}

// TestIMAP4rev2Client uses go-imap/v2's client, which speaks IMAP4rev2.
func TestIMAP4rev2Client(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", utf8Msg)
	c := h.dial(nil)
	if _, err := c.Enable(goimap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sd, err := c.Search(&goimap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.AllSeqNums(); !slices.Equal(got, []uint32{1}) {
		t.Errorf("SEARCH: %v", got)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v %v", msgs, err)
	}
	if s := msgs[0].Envelope.Subject; s != "Grüße" {
		t.Errorf("subject %q", s)
	}
	if err := c.Create("Ünïcode", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	l, err := c.List("", "Ü*", nil).Collect()
	if err != nil || len(l) != 1 || l[0].Mailbox != "Ünïcode" {
		t.Errorf("LIST: %+v %v", l, err)
	}
}

// TestSearchRes checks SEARCH RETURN (SAVE) and "$" (RFC 5182).
func TestSearchRes(t *testing.T) {
	h := newHarness(t)
	for _, s := range []string{"a", "b", "c", "d"} {
		h.deliver("INBOX", "Subject: "+s+"\r\n\r\nbody "+s+"\r\n")
	}
	r := h.login(t)
	if got := r.cmd("c CAPABILITY")[0]; !strings.Contains(got, " SEARCHRES ") {
		t.Errorf("CAPABILITY: %q", got)
	}
	// Before any SAVE, $ is empty.
	r.cmd("s SELECT INBOX")
	if got := r.cmd("f0 FETCH $ UID"); len(got) != 1 || !strings.HasPrefix(got[0], "f0 OK") {
		t.Errorf("FETCH $ before SAVE: %q", got)
	}
	// SAVE alone: no ESEARCH.
	if got := r.cmd("a UID SEARCH RETURN (SAVE) OR SUBJECT b SUBJECT d"); len(got) != 1 || !strings.HasPrefix(got[0], "a OK") {
		t.Errorf("SEARCH RETURN (SAVE): %q", got)
	}
	got := r.cmd("b FETCH $ (UID)")
	if !has(got, "* 2 FETCH (UID 2)") || !has(got, "* 4 FETCH (UID 4)") || len(got) != 3 {
		t.Errorf("FETCH $: %q", got)
	}
	if got := r.cmd(`st STORE $ +FLAGS (\Flagged)`); len(got) != 3 {
		t.Errorf("STORE $: %q", got)
	}
	if got := r.cmd(`se SEARCH RETURN (ALL) FLAGGED`); got[0] != `* ESEARCH (TAG "se") ALL 2,4` {
		t.Errorf("after STORE $: %q", got)
	}
	// $ within SEARCH, as a key and as UID $.
	if got := r.cmd(`k SEARCH RETURN (COUNT) $ SUBJECT d`); got[0] != `* ESEARCH (TAG "k") COUNT 1` {
		t.Errorf("SEARCH $: %q", got)
	}
	if got := r.cmd(`k2 UID SEARCH UID $`); got[0] != `* SEARCH 2 4` {
		t.Errorf("UID SEARCH UID $: %q", got)
	}
	// SAVE with MIN and MAX keeps those two only, and answers.
	if got := r.cmd(`m SEARCH RETURN (SAVE MIN) ALL`); got[0] != `* ESEARCH (TAG "m") MIN 1` {
		t.Errorf("SAVE MIN: %q", got)
	}
	if got := r.cmd(`mm UID FETCH $ UID`); len(got) != 2 || got[0] != "* 1 FETCH (UID 1)" {
		t.Errorf("after SAVE MIN: %q", got)
	}
	// COPY $ and MOVE $; expunged messages leave $.
	r.cmd(`s2 SEARCH RETURN (SAVE) SUBJECT c`)
	if got := last(r.cmd(`cp COPY $ Archive`)); !strings.HasPrefix(got, "cp OK [COPYUID") {
		t.Errorf("COPY $: %q", got)
	}
	if got := r.cmd(`mv MOVE $ Trash`); !strings.HasPrefix(last(got), "mv OK") || !has(got, "* 3 EXPUNGE") {
		t.Errorf("MOVE $: %q", got)
	}
	if got := r.cmd("f1 FETCH $ UID"); len(got) != 1 {
		t.Errorf("$ after MOVE: %q", got)
	}
	// A failed SEARCH with SAVE empties $; a new selection does too.
	r.cmd(`s3 SEARCH RETURN (SAVE) ALL`)
	if got := last(r.cmd(`s4 SEARCH RETURN (SAVE) BEFORE notadate`)); !strings.HasPrefix(got, "s4 BAD") {
		t.Errorf("bad SEARCH: %q", got)
	}
	if got := r.cmd("f2 FETCH $ UID"); len(got) != 1 {
		t.Errorf("$ after failed SEARCH: %q", got)
	}
	r.cmd(`s5 SEARCH RETURN (SAVE) ALL`)
	r.cmd("s6 SELECT INBOX")
	if got := r.cmd("f3 FETCH $ UID"); len(got) != 1 {
		t.Errorf("$ after SELECT: %q", got)
	}
}

// TestListExtended checks LIST-EXTENDED, LIST-STATUS and
// CREATE-SPECIAL-USE, with raw commands and go-imap/v2's client.
func TestListExtended(t *testing.T) {
	h := newHarness(t)
	h.deliver("INBOX", "Subject: a\r\n\r\nbody\r\n")
	r := h.login(t)
	caps := r.cmd("c CAPABILITY")[0]
	for _, c := range []string{"LIST-EXTENDED", "LIST-STATUS", "CREATE-SPECIAL-USE"} {
		if !strings.Contains(caps, " "+c+" ") {
			t.Errorf("CAPABILITY lacks %s: %q", c, caps)
		}
	}
	for _, cmd := range []string{"c1 CREATE Lists/Work", "c2 CREATE Lists/Play", "c3 CREATE Other", "u1 UNSUBSCRIBE Lists", "u2 UNSUBSCRIBE Lists/Play", "u3 UNSUBSCRIBE Other"} {
		if got := last(r.cmd(cmd)); !strings.Contains(got, " OK ") {
			t.Fatalf("%s: %q", cmd, got)
		}
	}
	got := r.cmd(`l1 LIST (SUBSCRIBED RECURSIVEMATCH) "" "L*"`)
	want := []string{
		`* LIST (\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))`,
		`* LIST (\HasNoChildren \Subscribed) "/" Lists/Work`,
		`l1 OK LIST completed`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH):\n got %q\nwant %q", got, want)
	}
	got = r.cmd(`l2 LIST "" ("INBOX" "Other") RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UIDNEXT))`)
	want = []string{
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* STATUS INBOX (MESSAGES 1 UIDNEXT 2)`,
		`* LIST (\HasNoChildren) "/" Other`,
		`* STATUS Other (MESSAGES 0 UIDNEXT 1)`,
		`l2 OK LIST completed`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("LIST RETURN STATUS:\n got %q\nwant %q", got, want)
	}
	if got := r.cmd(`l3 LIST (SPECIAL-USE) "" "*"`); len(got) != 6 || !has(got, `* LIST (\HasNoChildren \Junk) "/" Junk`) {
		t.Errorf("LIST (SPECIAL-USE): %q", got)
	}
	for _, tc := range []struct{ cmd, want string }{
		{`b1 LIST (RECURSIVEMATCH) "" "*"`, "b1 BAD"},
		{`b2 LIST (FROB) "" "*"`, "b2 BAD"},
		{`b3 LIST "" "*" RETURN (FROB)`, "b3 BAD"},
		{`b4 CREATE Spam2 (USE (\Junk))`, "b4 NO [USEATTR]"},
		{`b5 CREATE Odd (USE (\Frob))`, "b5 NO [USEATTR]"},
		{`b6 CREATE Flagged (USE (\Flagged))`, "b6 OK"},
	} {
		if got := last(r.cmd(tc.cmd)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %s", tc.cmd, got, tc.want)
		}
	}

	c := h.dial(nil)
	if err := c.Create("Everything", &goimap.CreateOptions{SpecialUse: []goimap.MailboxAttr{goimap.MailboxAttrAll}}).Wait(); err != nil {
		t.Fatal(err)
	}
	l, err := c.List("", "*", &goimap.ListOptions{SelectSpecialUse: true, ReturnStatus: &goimap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range l {
		if d.Mailbox == "Everything" && slices.Contains(d.Attrs, goimap.MailboxAttrAll) && d.Status != nil && d.Status.NumMessages != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("LIST (SPECIAL-USE) RETURN (STATUS): %+v", l)
	}
}

// TestObjectIDSaveDatePreview checks OBJECTID (RFC 8474), SAVEDATE (RFC
// 8514) and PREVIEW (RFC 8970).
func TestObjectIDSaveDatePreview(t *testing.T) {
	h := newHarness(t)
	m := h.deliver("INBOX", "Subject: p\r\nMessage-ID: <p1@example.test>\r\n\r\nThe quick brown fox.\r\n")
	r := h.login(t)
	caps := r.cmd("c CAPABILITY")[0]
	for _, c := range []string{"OBJECTID", "SAVEDATE", "PREVIEW", "UNAUTHENTICATE"} {
		if !strings.Contains(caps, " "+c) {
			t.Errorf("CAPABILITY lacks %s: %q", c, caps)
		}
	}
	inbox, err := h.st.GetMailbox(t.Context(), h.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	fid := mailboxID(inbox.ID)
	if got := r.cmd("s SELECT INBOX"); !has(got, "* OK [MAILBOXID ("+fid+")] Mailbox ID") {
		t.Errorf("SELECT without MAILBOXID: %q", got)
	}
	if got := r.cmd("st STATUS INBOX (MAILBOXID MESSAGES)"); got[0] != "* STATUS INBOX (MAILBOXID ("+fid+") MESSAGES 1)" {
		t.Errorf("STATUS MAILBOXID: %q", got)
	}
	if got := last(r.cmd("cr CREATE Newbox")); !strings.HasPrefix(got, "cr OK [MAILBOXID (F") {
		t.Errorf("CREATE: %q", got)
	}
	got := r.cmd("f FETCH 1 (EMAILID THREADID SAVEDATE PREVIEW (LAZY))")[0]
	saved := m.SaveDate.Format(internalDateLayout)
	wantThread := "NIL"
	if m.ThreadID != 0 {
		wantThread = "(" + threadID(&m) + ")"
	}
	want := "* 1 FETCH (EMAILID (" + emailID(&m) + ") THREADID " + wantThread + ` SAVEDATE "` + saved + `" PREVIEW "The quick brown fox.")`
	if got != want {
		t.Errorf("FETCH:\n got %q\nwant %q", got, want)
	}
	today := m.SaveDate.Format(searchDateLayout)
	for cmd, want := range map[string]string{
		"k1 SEARCH EMAILID " + emailID(&m):     "* SEARCH 1",
		"k2 SEARCH EMAILID M999999":            "* SEARCH",
		"k3 SEARCH SAVEDON " + today:           "* SEARCH 1",
		"k4 SEARCH SAVEDBEFORE " + today:       "* SEARCH",
		"k5 SEARCH SAVEDSINCE " + today:        "* SEARCH 1",
		"k6 SEARCH SAVEDATESUPPORTED":          "* SEARCH 1",
		"k7 SEARCH THREADID T0":                "* SEARCH",
		"k8 FETCH 1 (PREVIEW (FROB))":          "k8 BAD unknown PREVIEW modifier FROB",
		"k9 SEARCH NOT EMAILID " + emailID(&m): "* SEARCH",
	} {
		if got := r.cmd(cmd)[0]; got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
	// EMAILID stays across MOVE, MAILBOXID across RENAME.
	r.cmd("mv MOVE 1 Archive")
	r.cmd("s2 SELECT Archive")
	if got := r.cmd("f2 FETCH 1 EMAILID")[0]; got != "* 1 FETCH (EMAILID ("+emailID(&m)+"))" {
		t.Errorf("EMAILID after MOVE: %q", got)
	}
	arch, _ := h.st.GetMailbox(t.Context(), h.acct.ID, "Archive")
	r.cmd("u UNSELECT")
	r.cmd("rn RENAME Archive Old")
	if got := r.cmd("st2 STATUS Old (MAILBOXID)")[0]; got != "* STATUS Old (MAILBOXID ("+mailboxID(arch.ID)+"))" {
		t.Errorf("MAILBOXID after RENAME: %q", got)
	}
}

// TestUnauthenticate checks UNAUTHENTICATE (RFC 8437).
func TestUnauthenticate(t *testing.T) {
	h := newHarness(t)
	r := h.login(t)
	r.cmd("e ENABLE IMAP4rev2 CONDSTORE")
	r.cmd("s SELECT INBOX")
	got := last(r.cmd("u UNAUTHENTICATE"))
	if !strings.HasPrefix(got, "u OK [CAPABILITY ") || !strings.Contains(got, "AUTH=PLAIN") {
		t.Errorf("UNAUTHENTICATE: %q", got)
	}
	if got := last(r.cmd("f FETCH 1 UID")); !strings.HasPrefix(got, "f BAD FETCH is not valid in the not authenticated state") {
		t.Errorf("FETCH after UNAUTHENTICATE: %q", got)
	}
	if got := last(r.cmd("l LIST \"\" *")); !strings.HasPrefix(got, "l BAD") {
		t.Errorf("LIST after UNAUTHENTICATE: %q", got)
	}
	// Log in again: a fresh session, IMAP4rev1 until enabled again.
	if got := last(r.cmd(fmt.Sprintf("l0 LOGIN %s %q", demo, password))); !strings.HasPrefix(got, "l0 OK") {
		t.Fatalf("LOGIN again: %q", got)
	}
	if got := r.cmd("s2 SELECT INBOX"); !has(got, "* 0 RECENT") {
		t.Errorf("SELECT after new login kept IMAP4rev2: %q", got)
	}
	if got := last(r.cmd("x UNAUTHENTICATE extra")); !strings.HasPrefix(got, "x BAD") {
		t.Errorf("UNAUTHENTICATE with an argument: %q", got)
	}
}
