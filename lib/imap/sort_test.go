package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gannet/lib/message"
	"gannet/lib/store"
)

func TestBaseSubject(t *testing.T) {
	for _, tc := range []struct {
		in, base string
		reply    bool
	}{
		{"Hello", "Hello", false},
		{"Re: Hello", "Hello", true},
		{"RE:   Hello  ", "Hello", true},
		{"Re: re: Fwd: Hello", "Hello", true},
		{"Fw: Hello", "Hello", true},
		{"Re[2]: Hello", "Hello", true},
		{"Re [2]: Hello", "Hello", true},
		{"[list] Re: Hello", "Hello", true},
		{"[list] Hello", "Hello", false},
		{"[list]", "[list]", false},
		{"[a][b] [c] Hello", "Hello", false},
		{"Hello (fwd)", "Hello", true},
		{"Hello (FWD) (fwd) ", "Hello", true},
		{"[Fwd: Re: Hello]", "Hello", true},
		{"[fwd: [list] Hello (fwd)]", "Hello", true},
		{"Re:", "", true},
		{"", "", false},
		{"Hello\t  world", "Hello world", false},
		{"Reply to all", "Reply to all", false},
		{"Re: [list] [x]", "[x]", true},
		{"Grüße: Re: x", "Grüße: Re: x", false},
	} {
		base, reply := baseSubject(tc.in)
		if base != tc.base || reply != tc.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tc.in, base, reply, tc.base, tc.reply)
		}
	}
}

// deliverAt stores raw into INBOX with the given internal date.
func (h *harness) deliverAt(raw string, at time.Time) store.Message {
	h.t.Helper()
	ctx := context.Background()
	mb, err := h.st.GetMailbox(ctx, h.acct.ID, "INBOX")
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := h.st.AddMessages(ctx, []store.NewMessage{{AccountID: h.acct.ID, MailboxID: mb.ID,
		Raw: []byte(raw), Meta: message.Parse([]byte(raw)).Meta(), InternalDate: at}})
	if err != nil {
		h.t.Fatal(err)
	}
	return out[0]
}

func TestSort(t *testing.T) {
	h := newHarness(t)
	base := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	msgs := []struct {
		from, to, cc, subject, date string
		arrival                     int // hours after base
		pad                         int // body size
	}{
		// 1
		{`"Zed" <alice@example.test>`, "carol@example.test", "", "Re: banana", "Mon, 12 Jan 2026 10:00:00 +0000", 3, 10},
		// 2
		{"bob@example.test", `"Ann" <zoe@example.test>`, "Dave <dave@example.test>", "apple", "Sun, 11 Jan 2026 10:00:00 -0500", 1, 2000},
		// 3: no Date: sorts by its internal date
		{`=?utf-8?q?=C3=89mile?= <Carl@example.test>`, "bob@example.test", "anne@example.test", "[list] Cherry", "", 2, 500},
		// 4: no From, no To
		{"", "", "", "Fwd: Apple", "Sun, 11 Jan 2026 14:00:00 +0000", 0, 1000},
	}
	for _, m := range msgs {
		var b strings.Builder
		for _, f := range [][2]string{{"From", m.from}, {"To", m.to}, {"Cc", m.cc}, {"Subject", m.subject}, {"Date", m.date}} {
			if f[1] != "" {
				fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
			}
		}
		b.WriteString("\r\n" + strings.Repeat("x", m.pad) + "\r\n")
		h.deliverAt(b.String(), base.Add(time.Duration(m.arrival)*time.Hour))
	}
	r := h.login(t)
	r.cmd("s SELECT INBOX")
	if caps := r.cmd("c CAPABILITY")[0]; !strings.Contains(caps, " SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES") {
		t.Errorf("CAPABILITY: %q", caps)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"a SORT (ARRIVAL) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"a SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 1 3 2 4"},
		// 2 is 15:00 UTC on the 11th, 4 14:00; 3 has no Date: 14:00 on the 10th.
		{"a SORT (DATE) UTF-8 ALL", "* SORT 3 4 2 1"},
		{"a SORT (SIZE) UTF-8 ALL", "* SORT 1 3 4 2"},
		// apple, banana, cherry; ties (2 and 4 are both "apple") by sequence.
		{"a SORT (SUBJECT) UTF-8 ALL", "* SORT 2 4 1 3"},
		{"a SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 2 4 1 3"},
		{"a SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 3 1 2 4"},
		// Missing addresses sort first; then alice, bob, Carl.
		{"a SORT (FROM) UTF-8 ALL", "* SORT 4 1 2 3"},
		{"a SORT (TO) UTF-8 ALL", "* SORT 4 3 1 2"},
		{"a SORT (CC) UTF-8 ALL", "* SORT 1 4 3 2"},
		// Display names: "" < "bob@example.test" < "Émile" (decoded, decomposed) < "Zed".
		{"a SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"a SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"a SORT (SUBJECT) US-ASCII SENTSINCE 11-Jan-2026", "* SORT 2 4 1"},
		{"a SORT (SUBJECT) UTF-8 FROM nobody", "* SORT"},
		{"a UID SORT (SIZE) UTF-8 ALL", "* SORT 1 3 4 2"},
		{"a SORT RETURN (MIN MAX COUNT) (ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "a") MIN 4 MAX 1 COUNT 4`},
		{"a SORT RETURN () (SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "a") ALL 2,4,1,3`},
		{"a UID SORT RETURN (ALL COUNT) (REVERSE SIZE) UTF-8 NOT 4", `* ESEARCH (TAG "a") UID ALL 2,3,1 COUNT 3`},
		{"a SORT RETURN (MIN) (SIZE) UTF-8 FROM nobody", `* ESEARCH (TAG "a")`},
	} {
		got := r.cmd(tc.cmd)
		if got[0] != tc.want || !strings.HasPrefix(last(got), "a OK") {
			t.Errorf("%s: got %q, want %q", tc.cmd, got, tc.want)
		}
	}
	for _, tc := range []struct{ cmd, want string }{
		{"b SORT (ARRIVAL)", "b BAD"},
		{"b SORT (ARRIVAL) UTF-8", "b BAD"},
		{"b SORT (NAME) UTF-8 ALL", "b BAD"},
		{"b SORT (REVERSE) UTF-8 ALL", "b BAD"},
		{"b SORT () UTF-8 ALL", "b BAD"},
		{"b SORT (DATE) KOI8-R ALL", "b NO [BADCHARSET"},
		{"b SORT RETURN (SAVE) (DATE) UTF-8 ALL", "b BAD"},
	} {
		if got := last(r.cmd(tc.cmd)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %s", tc.cmd, got, tc.want)
		}
	}
	// UIDs differ from sequence numbers once a message is gone.
	r.cmd(`d STORE 2 +FLAGS (\Deleted)`)
	r.cmd("e EXPUNGE")
	if got := r.cmd("f UID SORT (ARRIVAL) UTF-8 ALL")[0]; got != "* SORT 4 3 1" {
		t.Errorf("UID SORT after EXPUNGE: %q", got)
	}
	if got := r.cmd("f SORT (ARRIVAL) UTF-8 ALL")[0]; got != "* SORT 3 2 1" {
		t.Errorf("SORT after EXPUNGE: %q", got)
	}
	// SORT needs a selected mailbox.
	r.cmd("u UNSELECT")
	if got := last(r.cmd("g SORT (DATE) UTF-8 ALL")); !strings.HasPrefix(got, "g BAD") {
		t.Errorf("SORT without a mailbox: %q", got)
	}
}
