package listen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket listens where a daemon's sd_notify datagrams go.
type notifySocket struct {
	Path string
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &notifySocket{Path: path, conn: c}
}

// expect waits for the next datagram and checks it is want.
func (n *notifySocket) expect(t *testing.T, want string) {
	t.Helper()
	n.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	k, err := n.conn.Read(buf)
	if err != nil {
		t.Fatalf("waiting for sd_notify %q: %v", want, err)
	}
	if got := string(buf[:k]); got != want {
		t.Fatalf("sd_notify: got %q, want %q", got, want)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// readName connects to addr, retrying until the deadline (the socket may not
// be bound yet), and returns the first line the server sends.
func readName(t *testing.T, network, addr string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("reading from %s: %v", addr, err)
			}
			return strings.TrimSuffix(line, "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting to %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goraceEnv keeps a race-enabled helper from sleeping a second at exit.
func goraceEnv() string {
	return strings.TrimSpace("GORACE=" + os.Getenv("GORACE") + " atexit_sleep_ms=0")
}

// waitExit waits for cmd with a deadline and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("waiting for helper: %v", err)
		}
		return 0
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("helper did not exit; stderr:\n%s", stderr)
		return -1
	}
}

// TestSystemdSocketActivate runs the helper daemon under systemd's own
// systemd-socket-activate with a TCP and a Unix socket, each named, and checks
// each connection reaches the listener of the right name; then that READY=1
// was sent and SIGTERM stops the daemon gracefully.
func TestSystemdSocketActivate(t *testing.T) {
	ssa := requireTool(t, "systemd-socket-activate", "systemd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	notify := newNotifySocket(t)
	tcpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	unixPath := filepath.Join(t.TempDir(), "lmtp.sock")

	var stderr bytes.Buffer
	cmd := exec.Command(ssa,
		"-l", tcpAddr, "-l", unixPath, "--fdname=submission:lmtp",
		"-E", helperEnv+"=serve", "-E", "NOTIFY_SOCKET="+notify.Path, "-E", goraceEnv(),
		self)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	if got := readName(t, "tcp", tcpAddr); got != "submission" {
		t.Errorf("TCP socket: got name %q, want submission; stderr:\n%s", got, &stderr)
	}
	if got := readName(t, "unix", unixPath); got != "lmtp" {
		t.Errorf("Unix socket: got name %q, want lmtp; stderr:\n%s", got, &stderr)
	}
	notify.expect(t, "READY=1")
	// systemd-socket-activate execs the daemon in its own process.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	notify.expect(t, "STOPPING=1")
	if code := waitExit(t, cmd, &stderr); code != 0 {
		t.Fatalf("helper exited %d after SIGTERM; stderr:\n%s", code, &stderr)
	}
}

// startInherited starts the helper with files as fds 3... and the given
// LISTEN_FDNAMES, the way systemd passes sockets. LISTEN_PID must be the
// helper's own pid, hence the shell that sets it and execs.
func startInherited(t *testing.T, names string, files ...*os.File) (*exec.Cmd, *bytes.Buffer) {
	return startInheritedEnv(t, nil, names, files...)
}

func startInheritedEnv(t *testing.T, env []string, names string, files ...*os.File) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `export LISTEN_PID=$$; exec "$0"`, self)
	cmd.Env = append(os.Environ(), helperEnv+"=serve", fmt.Sprintf("LISTEN_FDS=%d", len(files)))
	cmd.Env = append(cmd.Env, goraceEnv())
	cmd.Env = append(cmd.Env, env...)
	if names != "" {
		cmd.Env = append(cmd.Env, "LISTEN_FDNAMES="+names)
	}
	cmd.ExtraFiles = files
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, &stderr
}

func listenerFile(t *testing.T, l net.Listener) *os.File {
	t.Helper()
	f, err := l.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestInheritedSockets passes sockets by hand (ExtraFiles, LISTEN_FDS,
// LISTEN_FDNAMES, LISTEN_PID) and checks the names pick the listeners.
func TestInheritedSockets(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	unixPath := filepath.Join(t.TempDir(), "imap.sock")
	unix, err := net.Listen("unix", unixPath)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	notify := newNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", notify.Path)

	cmd, stderr := startInherited(t, "smtp:imaps", listenerFile(t, tcp), listenerFile(t, unix))
	// Our own copies would accept too; close them so only the helper does.
	tcp.Close()
	unix.(*net.UnixListener).SetUnlinkOnClose(false)
	unix.Close()

	notify.expect(t, "READY=1")
	if got := readName(t, "tcp", tcp.Addr().String()); got != "smtp" {
		t.Errorf("fd 3: got name %q, want smtp; stderr:\n%s", got, stderr)
	}
	if got := readName(t, "unix", unixPath); got != "imaps" {
		t.Errorf("fd 4: got name %q, want imaps; stderr:\n%s", got, stderr)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, stderr); code != 0 {
		t.Fatalf("helper exited %d after SIGTERM; stderr:\n%s", code, stderr)
	}
}

// TestInheritedSocketErrors checks that a socket with a name Gannet does not
// know, or without a name, or a descriptor that is no listening socket, stops
// the daemon with an error that says what is wrong.
func TestInheritedSocketErrors(t *testing.T) {
	regular, err := os.Create(filepath.Join(t.TempDir(), "not-a-socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	tests := []struct {
		name  string
		names string
		env   []string
		file  func(t *testing.T) *os.File
		want  string
	}{
		{"unknown name", "smtpx", nil, nil, `unknown name "smtpx"`},
		{"no name", "", nil, nil, "fd 3 has no name"},
		{"not a socket", "smtp", nil, func(*testing.T) *os.File { return regular }, "not a listening stream socket"},
		// The config entry of the same name lends its options (not its
		// address) to the inherited socket.
		{"proxy protocol", "smtp", []string{helperEnv + "_PROXY=smtp"}, nil, `"smtp": proxy_protocol is set but no proxy is trusted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *os.File
			if tt.file != nil {
				f = tt.file(t)
			} else {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				f = listenerFile(t, l)
			}
			cmd, stderr := startInheritedEnv(t, tt.env, tt.names, f)
			if code := waitExit(t, cmd, stderr); code != 1 {
				t.Fatalf("helper exited %d, want 1; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr does not say %q:\n%s", tt.want, stderr)
			}
		})
	}
}
