package listen

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestGate drives a gated listener with real connections: Allow drops
// without a word, Admit refuses with the Busy answer and gets its places
// back when connections close, CloseIf ends open connections.
func TestGate(t *testing.T) {
	var mu sync.Mutex
	banned := map[netip.Addr]bool{}
	open := 0
	g := &Gate{
		Allow: func(a net.Addr) bool {
			mu.Lock()
			defer mu.Unlock()
			return !banned[RemoteIP(a)]
		},
		Admit: func(a net.Addr) (func(), bool) {
			mu.Lock()
			defer mu.Unlock()
			if open >= 2 {
				return nil, false
			}
			open++
			return func() {
				mu.Lock()
				open--
				mu.Unlock()
			}, true
		},
		Busy: func(role string, c net.Conn) { c.Write([]byte("busy " + role + "\r\n")) },
	}
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := g.Wrap([]Listener{{Name: SMTP, Listener: nl}})
	defer ls[0].Close()
	conns := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ls[0].Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\r\n"))
			conns <- c
		}
	}()
	greet := func() (net.Conn, string) {
		c, err := net.Dial("tcp", nl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return c, line
	}
	c1, l1 := greet()
	c2, l2 := greet()
	c3, l3 := greet()
	defer c1.Close()
	defer c2.Close()
	defer c3.Close()
	if l1 != "hello\r\n" || l2 != "hello\r\n" || l3 != "busy smtp\r\n" {
		t.Errorf("greetings %q %q %q", l1, l2, l3)
	}
	s1 := <-conns
	s1.Close()
	s1.Close() // a second Close releases nothing more
	c4, l4 := greet()
	defer c4.Close()
	if l4 != "hello\r\n" {
		t.Errorf("after a close: %q", l4)
	}
	<-conns
	if n := g.Open(); n != 2 {
		t.Errorf("Open() = %d, want 2", n)
	}
	mu.Lock()
	banned[netip.MustParseAddr("127.0.0.1")] = true
	mu.Unlock()
	if n := g.CloseIf(func(a net.Addr) bool { return !g.Allow(a) }); n != 2 {
		t.Errorf("CloseIf closed %d, want 2", n)
	}
	c5, l5 := greet()
	defer c5.Close()
	if l5 != "" {
		t.Errorf("banned client got %q", l5)
	}
	mu.Lock()
	if open != 0 {
		t.Errorf("%d places still taken", open)
	}
	mu.Unlock()
}

func TestRemoteIP(t *testing.T) {
	for _, tt := range []struct {
		a    net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 1}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1}, "2001:db8::1"},
		{&net.UnixAddr{Name: "/run/x", Net: "unix"}, "invalid IP"},
		{nil, "invalid IP"},
	} {
		if got := RemoteIP(tt.a).String(); got != tt.want {
			t.Errorf("RemoteIP(%v) = %s, want %s", tt.a, got, tt.want)
		}
	}
}
