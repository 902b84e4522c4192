package listen

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gannet/lib/config"
)

func closeListeners(ls []Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// serveNames answers each connection on ls with the listener's name.
func serveNames(t *testing.T, ls []Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ls, func(ctx context.Context, l Listener, c net.Conn) { fmt.Fprintf(c, "%s\n", l.Name) })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// TestOpenConfig listens on a TCP address and a Unix socket path from the
// configuration, the latter over a stale socket file left by a dead process.
func TestOpenConfig(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sub", "lmtp.sock")
	os.MkdirAll(filepath.Dir(sock), 0o755)
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	ls, err := Open(context.Background(), []config.Listener{
		{Name: "smtp", Address: "127.0.0.1:0"},
		{Name: "lmtp", Address: sock},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Name != "smtp" || ls[1].Name != "lmtp" {
		t.Fatalf("got %+v", ls)
	}
	serveNames(t, ls)
	if got := readName(t, "tcp", ls[0].Addr().String()); got != "smtp" {
		t.Errorf("TCP: got %q", got)
	}
	if got := readName(t, "unix", sock); got != "lmtp" {
		t.Errorf("Unix: got %q", got)
	}
}

// TestOpenConfigMakesSocketDir checks a Unix socket's directory is created.
func TestOpenConfigMakesSocketDir(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "gannet", "lmtp.sock")
	ls, err := Open(context.Background(), []config.Listener{{Name: "lmtp", Address: sock}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeListeners(ls)
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("no socket at %s: %v", sock, err)
	}
}

// TestOpenConfigErrors checks each mistake is reported, names the listener,
// destroys nothing, and leaves no socket open behind it.
func TestOpenConfigErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "precious")
	if err := os.WriteFile(regular, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live.sock")
	ll, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ll.Close()
	go func() {
		for {
			c, err := ll.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "still here\n")
			c.Close()
		}
	}()

	tests := []struct {
		name string
		l    config.Listener
		want string
	}{
		{"unknown name", config.Listener{Name: "smtps", Address: "127.0.0.1:0"}, `"smtps": unknown name`},
		{"no address", config.Listener{Name: "imap"}, `"imap": no address`},
		{"bad address", config.Listener{Name: "imap", Address: "localhost"}, "neither host:port nor an absolute path"},
		{"not a socket", config.Listener{Name: "lmtp", Address: regular}, "is not a socket; not removing it"},
		{"socket in use", config.Listener{Name: "lmtp", Address: live}, "another process is listening"},
		{"proxy protocol", config.Listener{Name: "smtp", Address: "127.0.0.1:0", ProxyProtocol: true}, "proxy_protocol is set but no proxy is trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A good listener first: it must be closed again on the error.
			port := freePort(t)
			first := config.Listener{Name: "smtp", Address: fmt.Sprintf("127.0.0.1:%d", port)}
			ls, err := Open(context.Background(), []config.Listener{first, tt.l})
			if err == nil {
				closeListeners(ls)
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
			again, err := net.Listen("tcp", first.Address)
			if err != nil {
				t.Fatalf("first listener left open after the error: %v", err)
			}
			again.Close()
		})
	}
	if b, err := os.ReadFile(regular); err != nil || string(b) != "keep me" {
		t.Fatalf("regular file at a socket path was touched: %q, %v", b, err)
	}
	if got := readName(t, "unix", live); got != "still here" {
		t.Fatalf("live socket was disturbed: got %q", got)
	}
}

// TestActivationForAnotherProcess checks that LISTEN_FDS meant for another
// process (LISTEN_PID not ours) is ignored, as sd_listen_fds does, and the
// config addresses are used.
func TestActivationForAnotherProcess(t *testing.T) {
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_FDNAMES", "smtp")
	ls, err := Open(context.Background(), []config.Listener{{Name: "imap", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeListeners(ls)
	if len(ls) != 1 || ls[0].Name != "imap" || ls[0].Addr().Network() != "tcp" {
		t.Fatalf("got %+v", ls)
	}
}
