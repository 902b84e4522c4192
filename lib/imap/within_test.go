package imap

import (
	"strings"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	h := newHarness(t)
	h.deliverAt("Subject: old\r\n\r\nx\r\n", time.Now().Add(-48*time.Hour))
	h.deliverAt("Subject: new\r\n\r\nx\r\n", time.Now().Add(-time.Hour))
	r := h.login(t)
	if caps := r.cmd("c CAPABILITY")[0]; !strings.Contains(caps, " WITHIN") {
		t.Errorf("CAPABILITY: %q", caps)
	}
	r.cmd("s SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"a SEARCH OLDER 86400", "* SEARCH 1"},
		{"a SEARCH YOUNGER 86400", "* SEARCH 2"},
		{"a SEARCH YOUNGER 604800", "* SEARCH 1 2"},
		{"a SEARCH OLDER 604800", "* SEARCH"},
		{"a SEARCH NOT YOUNGER 7200", "* SEARCH 1"},
		{"a UID SEARCH OLDER 99999999999", "* SEARCH"},
		{"a SORT (REVERSE ARRIVAL) UTF-8 YOUNGER 604800", "* SORT 2 1"},
	} {
		got := r.cmd(tc.cmd)
		if got[0] != tc.want || !strings.HasPrefix(last(got), "a OK") {
			t.Errorf("%s: got %q, want %q", tc.cmd, got, tc.want)
		}
	}
	for _, cmd := range []string{"b SEARCH OLDER 0", "b SEARCH YOUNGER", "b SEARCH OLDER -5", "b SEARCH YOUNGER 1d"} {
		if got := last(r.cmd(cmd)); !strings.HasPrefix(got, "b BAD") {
			t.Errorf("%s: %q", cmd, got)
		}
	}
}
