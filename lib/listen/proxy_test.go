package listen

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"gannet/lib/config"
)

// openProxy opens one proxy_protocol listener on 127.0.0.1 trusting nets and
// answers every connection with its remote address, then what it read.
func openProxy(t *testing.T, trusted ...string) (string, *syncBuffer) {
	t.Helper()
	var nets []netip.Prefix
	for _, n := range trusted {
		nets = append(nets, netip.MustParsePrefix(n))
	}
	log, buf := logBuffer()
	ls, err := Open(context.Background(), []config.Listener{{Name: SMTP, Address: "127.0.0.1:0", ProxyProtocol: true}}, TrustedProxies(nets), WithLog(log))
	if err != nil {
		t.Fatal(err)
	}
	l := ls[0]
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte(c.RemoteAddr().String() + " " + c.LocalAddr().String() + " " + line))
			}()
		}
	}()
	return l.Addr().String(), buf
}

// talk connects from src (empty: any) to addr, writes header (may be nil)
// and a line, and returns the answer ("" when the server hung up).
func talk(t *testing.T, src, addr string, header *proxyproto.Header) string {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if header != nil {
		if _, err := header.WriteTo(c); err != nil {
			t.Fatal(err)
		}
	}
	c.Write([]byte("hello\n"))
	b := make([]byte, 512)
	var out strings.Builder
	for {
		n, err := c.Read(b)
		out.Write(b[:n])
		if err != nil {
			break
		}
	}
	return out.String()
}

func header(version byte, cmd proxyproto.ProtocolVersionAndCommand) *proxyproto.Header {
	return &proxyproto.Header{
		Version:           version,
		Command:           cmd,
		TransportProtocol: proxyproto.TCPv4,
		SourceAddr:        &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000},
		DestinationAddr:   &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 25},
	}
}

// TestProxyProtocol checks that a listener with proxy_protocol reports the
// client of a v1 or v2 header from a trusted proxy, keeps the proxy's address
// for a LOCAL header, and closes (and logs) connections from untrusted peers
// and connections without a header.
func TestProxyProtocol(t *testing.T) {
	addr, log := openProxy(t, "127.0.0.1/32")
	for _, v := range []byte{1, 2} {
		got := talk(t, "127.0.0.1", addr, header(v, proxyproto.PROXY))
		if want := "192.0.2.7:40000 198.51.100.1:25 hello\n"; got != want {
			t.Errorf("v%d: server saw %q, want %q", v, got, want)
		}
	}
	if got := talk(t, "127.0.0.1", addr, header(2, proxyproto.LOCAL)); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("v2 LOCAL: server saw %q, want the proxy's own address", got)
	}
	if got := talk(t, "127.0.0.1", addr, nil); got != "" {
		t.Errorf("no header: server answered %q, want the connection closed", got)
	}
	if got := talk(t, "127.0.0.5", addr, header(1, proxyproto.PROXY)); got != "" {
		t.Errorf("header from an untrusted peer: server answered %q, want the connection closed", got)
	}
	for _, want := range []string{"PROXY protocol error", "not a trusted proxy", "peer=127.0.0.5:"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// Good connections still get through after the bad ones.
	if got := talk(t, "127.0.0.1", addr, header(2, proxyproto.PROXY)); !strings.HasPrefix(got, "192.0.2.7:40000 ") {
		t.Errorf("after refusals: server saw %q", got)
	}
}

// TestProxySlowPeerBlocksNobody checks that a trusted peer that never sends
// its header does not hold up the connections behind it.
func TestProxySlowPeerBlocksNobody(t *testing.T) {
	addr, _ := openProxy(t, "127.0.0.0/8")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if got := talk(t, "127.0.0.1", addr, header(1, proxyproto.PROXY)); !strings.HasPrefix(got, "192.0.2.7:40000 ") {
		t.Errorf("behind a silent peer: server saw %q", got)
	}
}

// TestProxyListenerClose checks that Close ends a waiting Accept.
func TestProxyListenerClose(t *testing.T) {
	ls, err := Open(context.Background(), []config.Listener{{Name: IMAP, Address: "127.0.0.1:0", ProxyProtocol: true}},
		TrustedProxies([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := ls[0].Accept()
		done <- err
	}()
	ls[0].Close()
	if err := <-done; err == nil || !isClosed(err) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
