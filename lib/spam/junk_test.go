package spam

import "testing"

func TestStripFields(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n"},
		{"X-Spam-Status: No, score=-5\r\nSubject: a\r\nx-spam-flag : NO\r\nX-Spam-Result: A=1,\r\n B=2\r\n\r\nX-Spam-Score: 1\r\n",
			"Subject: a\r\n\r\nX-Spam-Score: 1\r\n"},
		{"X-Spam-Score: 9", ""},
	} {
		if got := string(StripFields([]byte(c.in))); got != c.want {
			t.Errorf("StripFields(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestVerdictOf(t *testing.T) {
	v := &Verdict{Score: 7.25, Spam: true, Thresholds: Thresholds{Spam: 5}, Tags: []Tag{{"A", 7.25, "x"}}}
	raw := append([]byte("Return-Path: <a@b>\r\n"), v.Fields()...)
	raw = append(raw, "Subject: hi\r\n\r\nX-Spam-Flag: NO\r\n"...)
	score, flagged, ok := verdictOf(raw)
	if !ok || !flagged || score != 7.25 {
		t.Errorf("verdictOf = %v, %v, %v", score, flagged, ok)
	}
	if _, _, ok := verdictOf([]byte("Subject: x\r\n\r\nX-Spam-Score: 3\r\n")); ok {
		t.Error("a score in the body was read")
	}
}
