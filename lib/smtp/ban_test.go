package smtp

import (
	"encoding/base64"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeGuard records what smtpd tells the auto-ban and allows one message
// per sender and per domain.
type fakeGuard struct {
	mu       sync.Mutex
	events   []string
	senders  map[string]int
	domains  map[string]int
	failures []string
}

func (g *fakeGuard) AuthFailure(remote net.Addr, username string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, username)
}

func (g *fakeGuard) Abuse(remote net.Addr, event string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, event)
}

func (g *fakeGuard) AllowSender(remote net.Addr, sender string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.senders[sender]++
	return g.senders[sender] <= 1
}

func (g *fakeGuard) AllowDomain(remote net.Addr, domain string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.domains[domain]++
	return g.domains[domain] <= 1
}

func TestGuardHooks(t *testing.T) {
	g := &fakeGuard{senders: map[string]int{}, domains: map[string]int{}}
	h := newHarness(t, harnessOpts{server: func(s *Server) { s.Guard = g }})

	rc := dialRaw(t, h.addr[RoleSMTP])
	rc.send("EHLO client.example\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<a@remote.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<nobody@example.test>\r\n")
	rc.expect("550 5.1.1")
	rc.send("RCPT TO:<friend@elsewhere.example>\r\n")
	rc.expect("554 5.7.1")
	rc.send("RCPT TO:<" + demo + ">\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<" + other + ">\r\n") // same domain, same transaction: counted once
	rc.expect("250")
	rc.send("RSET\r\n")
	rc.expect("250")
	rc.send("MAIL FROM:<a@remote.example>\r\n")
	rc.expect("451 4.7.1")
	rc.send("MAIL FROM:<b@remote.example>\r\n")
	rc.expect("250")
	rc.send("RCPT TO:<" + demo + ">\r\n")
	rc.expect("451 4.7.1")
	rc.send("QUIT\r\n")

	sub := dialRaw(t, h.addr[RoleSubmission])
	sub.send("EHLO client.example\r\n")
	sub.expect("250")
	sub.startTLS()
	sub.send("EHLO client.example\r\n")
	sub.expect("250")
	sub.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+demo+"\x00wrong")) + "\r\n")
	sub.expect("535 5.7.8")
	sub.send("QUIT\r\n")

	g.mu.Lock()
	defer g.mu.Unlock()
	if !slices.Equal(g.events, []string{"rcpt", "rcpt"}) {
		t.Errorf("abuse events %v, want two rcpt", g.events)
	}
	if g.domains["example.test"] != 2 {
		t.Errorf("example.test counted %d times, want 2 (once per transaction)", g.domains["example.test"])
	}
	if len(g.failures) != 1 || !strings.EqualFold(g.failures[0], demo) {
		t.Errorf("auth failures %v, want [%s]", g.failures, demo)
	}
}
