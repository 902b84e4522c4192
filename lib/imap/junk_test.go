package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gannet/lib/store"
)

func TestJunkTraining(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := h.deliver("INBOX", plainMsg("a", "buy now"))
	b := h.deliver("INBOX", plainMsg("b", "lunch?"))
	c := h.deliver("INBOX", plainMsg("c", "cheap pills"))
	r := h.login(t)
	var after int64
	// events returns the training events recorded since the last call, as
	// "source spam blob" strings, and checks their account and time.
	events := func() []string {
		t.Helper()
		evs, err := h.st.ListTrainingEvents(ctx, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			after = e.ID
			if e.AccountID != h.acct.ID || e.Time.IsZero() || e.MessageID == 0 {
				t.Errorf("bad event %+v", e)
			}
			out = append(out, fmt.Sprintf("%s %v %s", e.Source, e.Spam, e.BlobID))
		}
		return out
	}
	ev := func(source string, spam bool, m store.Message) string {
		return fmt.Sprintf("%s %v %s", source, spam, m.BlobID)
	}
	steps := []struct {
		cmd  string
		want []string
	}{
		{"s1 SELECT INBOX", nil},
		{"t1 UID STORE 1:* +FLAGS (\\Seen)", nil},
		{fmt.Sprintf("t2 UID STORE %d +FLAGS ($Junk)", c.UID), []string{ev(trainStore, true, c)}},
		{fmt.Sprintf("t3 UID STORE %d +FLAGS ($Junk \\Flagged)", c.UID), nil}, // $Junk was set already
		{fmt.Sprintf("t4 UID STORE %d -FLAGS ($Junk)", c.UID), []string{ev(trainStore, false, c)}},
		{fmt.Sprintf("t5 UID STORE %d +FLAGS.SILENT ($NotJunk)", c.UID), []string{ev(trainStore, false, c)}},
		{fmt.Sprintf("t6 UID STORE %d FLAGS ($Junk)", c.UID), []string{ev(trainStore, true, c)}},
		{fmt.Sprintf("t7 UID STORE %d -FLAGS ($NotJunk)", c.UID), nil},
		{fmt.Sprintf("m1 UID COPY %d Archive", b.UID), nil},
		{fmt.Sprintf("m2 UID MOVE %d Archive", b.UID), nil},
		{fmt.Sprintf("m3 UID MOVE %d Junk", a.UID), []string{ev(trainMove, true, a)}},
		{fmt.Sprintf("m4 UID COPY %d Junk", c.UID), []string{ev(trainCopy, true, c)}},
		{"s2 SELECT Junk", nil},
		{"m5 MOVE 1 INBOX", []string{ev(trainMove, false, a)}},
		{"m6 MOVE 1 Trash", nil}, // the copy of c: thrown away, no verdict
		{"s3 SELECT Trash", nil},
		{"m7 COPY 1 Junk", []string{ev(trainCopy, true, c)}},
	}
	for _, st := range steps {
		if got := last(r.cmd(st.cmd)); !strings.Contains(got, " OK") {
			t.Fatalf("%s: %q", st.cmd, got)
		}
		got := events()
		if strings.Join(got, "\n") != strings.Join(st.want, "\n") {
			t.Errorf("%s: events %q, want %q", st.cmd, got, st.want)
		}
	}
}
