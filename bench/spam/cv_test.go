package main

import (
	"fmt"
	"strings"
	"testing"

	"gannet/lib/store"
)

func TestMemTokens(t *testing.T) {
	ctx := t.Context()
	m := newMemTokens()
	toks := []uint64{1, 2, 3}
	steps := []struct {
		spam, forget bool
		want         store.LearnResult
		tot          store.BayesTotals
	}{
		{true, false, store.Learned, store.BayesTotals{Spam: 1}},
		{true, false, store.AlreadyLearned, store.BayesTotals{Spam: 1}},
		{false, false, store.Relearned, store.BayesTotals{Ham: 1}},
		{false, true, store.Forgotten, store.BayesTotals{}},
		{false, true, store.NotLearned, store.BayesTotals{}},
	}
	for i, s := range steps {
		got, err := m.LearnMessage(ctx, 0, 42, toks, s.spam, s.forget)
		tot, _ := m.BayesTotals(ctx, 0)
		if err != nil || got != s.want || tot != s.tot {
			t.Errorf("step %d: %v, %v, totals %+v; want %v, %+v", i, got, err, tot, s.want, s.tot)
		}
	}
	m.LearnMessage(ctx, 0, 1, []uint64{1, 2}, true, false)
	m.LearnMessage(ctx, 0, 2, []uint64{1}, false, false)
	seen := map[uint64]store.TokenCount{}
	m.ScanTokens(ctx, 0, 2, func(tok uint64, c store.TokenCount) error {
		seen[tok] = c
		return nil
	})
	if len(seen) != 1 || seen[1] != (store.TokenCount{Spam: 1, Ham: 1}) {
		t.Errorf("tokens seen twice: %v, want only 1 (1 spam, 1 ham)", seen)
	}
}

func TestCrossValidate(t *testing.T) {
	var msgs []Msg
	for i := range 4 {
		msgs = append(msgs, Msg{Set: trainHam, Name: fmt.Sprintf("h%d", i),
			Raw: []byte("From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: lunch\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <h" + fmt.Sprint(i) + "@example.org>\r\nX-Mailer: mutt\r\n\r\nNoon at the usual place?\r\n")})
		msgs = append(msgs, Msg{Set: trainSpam, Name: fmt.Sprintf("s%d", i),
			Raw: []byte("From: x@example.net\r\nSubject: test\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n")})
	}
	r, err := crossValidate(t.Context(), msgs, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Spam != (SetResult{N: 4, Flagged: 4}) || r.Ham != (SetResult{N: 4}) || len(r.Rows) != 8 {
		t.Errorf("spam %+v, ham %+v, %d rows; want 4/4 spam caught, 0/4 ham flagged, 8 rows", r.Spam, r.Ham, len(r.Rows))
	}
	if !strings.Contains(strings.Join(r.Rows, ""), "GTUBE=1000") {
		t.Errorf("rows do not name GTUBE:\n%s", strings.Join(r.Rows, ""))
	}
	if _, err := crossValidate(t.Context(), msgs, 1); err == nil {
		t.Error("1 fold accepted")
	}
}
