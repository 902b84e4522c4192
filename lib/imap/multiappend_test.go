package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// appendCmd builds an APPEND with LITERAL+ literals from parts: flag
// lists and dates go as they are, messages (anything with a CRLF) as
// literals.
func appendCmd(tag, mailbox string, parts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s APPEND %s", tag, mailbox)
	for _, p := range parts {
		if strings.Contains(p, "\r\n") || p == "" {
			fmt.Fprintf(&b, " {%d+}\r\n%s", len(p), p)
		} else {
			b.WriteString(" " + p)
		}
	}
	return b.String()
}

func TestMultiappend(t *testing.T) {
	h := newHarness(t)
	r := h.raw(t, true)
	r.loginRaw()
	if got := r.cmd("c CAPABILITY"); !strings.Contains(got[0], " MULTIAPPEND") {
		t.Errorf("MULTIAPPEND not offered: %q", got[0])
	}
	m1, m2, m3 := plainMsg("one", "1"), plainMsg("two", "2"), plainMsg("three", "3")
	got := r.cmd(appendCmd("a1", "Archive", `(\Seen)`, m1, `"05-Mar-2024 10:00:00 +0000"`, m2, `(\Flagged $Work)`, `"06-Mar-2024 11:00:00 +0100"`, m3))
	uidv := ""
	if _, err := fmt.Sscanf(last(got), "a1 OK [APPENDUID %s 1:3]", &uidv); err != nil || !strings.HasSuffix(last(got), " 1:3] APPEND completed") {
		t.Fatalf("MULTIAPPEND: %q", got)
	}
	r.cmd("a2 EXAMINE Archive")
	got = r.cmd("a3 FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	text := strings.Join(got, "\n")
	for _, want := range []string{
		`* 1 FETCH (UID 1 FLAGS (\Seen \Recent) INTERNALDATE "`,
		`* 2 FETCH (UID 2 FLAGS (\Recent) INTERNALDATE " 5-Mar-2024 10:00:00 +0000"`,
		`* 3 FETCH (UID 3 FLAGS ($Work \Flagged \Recent) INTERNALDATE " 6-Mar-2024 10:00:00 +0000"`,
		"Subject: one", "Subject: two", "Subject: three",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("FETCH after MULTIAPPEND lacks %q:\n%s", want, text)
		}
	}

	// All or nothing: an empty message, a bad argument and a store
	// failure (over quota on the second message) store none.
	count := func() string {
		got := r.cmd("s STATUS Drafts (MESSAGES)")
		return got[0]
	}
	for _, tc := range []struct {
		cmd, want string
	}{
		{appendCmd("b1", "Drafts", m1, ""), "b1 NO Empty message"},
		{appendCmd("b2", "Drafts", m1, `(\Seen)`), "b2 BAD "},
		{appendCmd("b3", "Drafts", m1, "FOO", m2), "b3 BAD invalid APPEND argument"},
		{appendCmd("b4", "Nope", m1, m2), "b4 NO [TRYCREATE]"},
	} {
		if got := r.cmd(tc.cmd); !strings.HasPrefix(last(got), tc.want) {
			t.Errorf("%.20q: %q, want %q", tc.cmd, got, tc.want)
		}
		if c := count(); c != `* STATUS Drafts (MESSAGES 0)` {
			t.Errorf("after %.20q: %q", tc.cmd, c)
		}
	}
	ctx := context.Background()
	acct, err := h.st.GetAccountByID(ctx, h.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	acct.QuotaMessages = 4 // 3 in Archive: room for one more
	if err := h.st.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if got := r.cmd(appendCmd("b5", "Drafts", m1, m2)); !strings.HasPrefix(last(got), "b5 NO [OVERQUOTA]") {
		t.Errorf("MULTIAPPEND over quota: %q", got)
	}
	if c := count(); c != `* STATUS Drafts (MESSAGES 0)` {
		t.Errorf("after MULTIAPPEND over quota: %q", c)
	}
	if got := r.cmd(appendCmd("b6", "Drafts", m1)); !strings.Contains(last(got), "b6 OK [APPENDUID ") || !strings.HasSuffix(last(got), " 1] APPEND completed") {
		t.Errorf("APPEND within quota: %q", got)
	}
}
