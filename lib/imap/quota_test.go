package imap

import (
	"context"
	"strings"
	"testing"
)

func TestQuota(t *testing.T) {
	h := newHarness(t)
	r := h.login(t)
	caps := r.cmd("c CAPABILITY")[0] + " "
	for _, want := range []string{" QUOTA ", " QUOTA=RES-STORAGE ", " QUOTA=RES-MESSAGE "} {
		if !strings.Contains(caps, want) {
			t.Errorf("CAPABILITY lacks %q: %q", want, caps)
		}
	}
	if strings.Contains(caps, "QUOTASET") {
		t.Errorf("QUOTASET offered though SETQUOTA always fails: %q", caps)
	}

	// No limits: the mailbox has no quota root.
	if got := r.cmd("q1 GETQUOTAROOT INBOX"); len(got) != 2 || got[0] != "* QUOTAROOT INBOX" || !strings.HasPrefix(got[1], "q1 OK") {
		t.Errorf("GETQUOTAROOT without limits: %q", got)
	}
	if got := last(r.cmd(`q2 GETQUOTA ""`)); !strings.HasPrefix(got, "q2 NO [NONEXISTENT]") {
		t.Errorf("GETQUOTA without limits: %q", got)
	}

	// Limits set by the administrator while the session runs.
	ctx := context.Background()
	acct, err := h.st.GetAccountByID(ctx, h.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	acct.QuotaBytes, acct.QuotaMessages = 2048, 2
	if err := h.st.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	h.deliver("INBOX", plainMsg("one", "1")) // about 150 octets: 1 KiB
	got := r.cmd("q3 GETQUOTAROOT INBOX")
	want := []string{`* QUOTAROOT INBOX ""`, `* QUOTA "" (STORAGE 1 2 MESSAGE 1 2)`}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || !strings.HasPrefix(got[2], "q3 OK") {
		t.Errorf("GETQUOTAROOT: %q, want %q", got, want)
	}
	if got := r.cmd(`q4 GETQUOTA ""`); len(got) != 2 || got[0] != want[1] || !strings.HasPrefix(got[1], "q4 OK") {
		t.Errorf("GETQUOTA: %q", got)
	}
	for _, tc := range []struct{ cmd, want string }{
		{`q5 GETQUOTA "User quota"`, "q5 NO [NONEXISTENT]"},
		{"q6 GETQUOTAROOT Nope", "q6 NO [NONEXISTENT]"},
		{`q7 SETQUOTA "" (STORAGE 100)`, "q7 NO [NOPERM]"},
		{"q8 GETQUOTA", "q8 BAD"},
		// A message of 3000 octets goes over the 2 KiB.
		{appendCmd("q9", "Drafts", plainMsg("big", strings.Repeat("x", 3000))), "q9 NO [OVERQUOTA]"},
	} {
		if got := last(r.cmd(tc.cmd)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%.30q: %q, want %q", tc.cmd, got, tc.want)
		}
	}

	// The second message fits; a third (by COPY) is over the message limit,
	// and MOVE, which stores nothing more, still works.
	if got := last(r.cmd(appendCmd("a1", "Drafts", plainMsg("two", "2")))); !strings.HasPrefix(got, "a1 OK") {
		t.Fatalf("APPEND within quota: %q", got)
	}
	r.cmd("s1 SELECT INBOX")
	if got := last(r.cmd("c1 COPY 1 Archive")); !strings.HasPrefix(got, "c1 NO [OVERQUOTA]") {
		t.Errorf("COPY over quota: %q", got)
	}
	if got := last(r.cmd("m1 MOVE 1 Archive")); !strings.HasPrefix(got, "m1 OK") {
		t.Errorf("MOVE at quota: %q", got)
	}
	if got := r.cmd("q10 GETQUOTAROOT Archive"); len(got) != 3 || got[1] != `* QUOTA "" (STORAGE 1 2 MESSAGE 2 2)` {
		t.Errorf("GETQUOTAROOT after MOVE: %q", got)
	}
}
