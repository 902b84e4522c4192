package smtp

import (
	"strings"
	"testing"
)

// TestNestedMAIL: a second MAIL in a transaction is refused (RFC 5321
// section 4.1.4), and the transaction goes on with its recipients. go-smtp
// used to take it and keep the first MAIL's recipients while the session
// began anew, so that LMTP answered 250 for a recipient the message never
// reached.
func TestNestedMAIL(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	rc := dialRaw(t, h.addr[RoleLMTP])
	rc.send("LHLO client.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<a@remote.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<demo@example.test>\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<b@remote.example>\r\n")
	rc.expect("503 5.5.1 ")
	rc.send("RCPT TO:<other@example.test>\r\n")
	rc.expect("250")
	rc.send("DATA\r\n")
	rc.expect("354")
	rc.send("Subject: nested\r\n\r\nbody\r\n.\r\n")
	rc.expect("250 2.0.0 <demo@example.test> ")
	rc.expect("250 2.0.0 <other@example.test> ")
	for _, a := range []string{demo, other} {
		in := h.inbox(a)
		if len(in) != 1 || !strings.Contains(in[0], "Return-Path: <a@remote.example>") {
			t.Errorf("%s: inbox %q, want the message from a@remote.example", a, in)
		}
	}
}
