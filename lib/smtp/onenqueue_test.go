package smtp

import (
	"strings"
	"sync/atomic"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"gannet/lib/config"
)

// OnEnqueue is called once per message put into the queue, and not for
// mail that went only into local mailboxes.
func TestOnEnqueue(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, harnessOpts{
		config: func(c *config.Config) { c.SMTPD.RelayNetworks = []string{"127.0.0.0/8"} },
		server: func(s *Server) { s.OnEnqueue = func() { calls.Add(1) } },
	})
	send := func(rcpts ...string) {
		t.Helper()
		c, err := gosmtp.Dial(h.addr[RoleSMTP])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SendMail("a@example.test", rcpts, strings.NewReader(testMessage)); err != nil {
			t.Fatal(err)
		}
	}
	send(demo)
	if n := calls.Load(); n != 0 {
		t.Errorf("OnEnqueue called %d times for local mail", n)
	}
	send("x@remote.example", "y@remote.example", demo)
	if n := calls.Load(); n != 1 {
		t.Errorf("OnEnqueue called %d times for one queued message, want 1", n)
	}
	if q := h.queue(); len(q) != 1 {
		t.Errorf("queue: %+v", q)
	}
}
