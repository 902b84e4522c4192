// Package listen gives Gannet's daemons their sockets, their TLS configuration
// and their conversation with systemd.
//
// A daemon started by systemd socket activation receives its listening
// sockets as inherited file descriptors (LISTEN_FDS, LISTEN_PID), each named
// by the FileDescriptorName= of its .socket unit (LISTEN_FDNAMES); the name
// picks the role: smtp, submission, submissions, lmtp, imap, imaps, http,
// https, sieve, spamd, milter. Without socket activation a daemon listens on
// the addresses of its [[NAME.listener]] sections in the configuration.
//
// A listener with proxy_protocol = true reads the PROXY protocol header
// (version 1 or 2) of every connection from a trusted proxy before Accept
// returns it, so that RemoteAddr is the client's address (proxy.go).
// TLSConfigWithStore serves certificates from the store by server name,
// from the configured files, or self-signed, and answers TLS-ALPN-01
// validations (tls.go, storecert.go).
//
// Ready, Stopping and Status speak the sd_notify protocol (Type=notify
// services); SignalContext turns SIGTERM and SIGINT into a cancelled context;
// Serve accepts on every listener and, when its context ends, stops accepting
// and lets the connections in progress finish.
package listen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"gannet/lib/config"
)

// The socket names (systemd FileDescriptorName=, config listener name) and
// the role each one picks.
const (
	SMTP        = "smtp"        // SMTP from other MTAs (MX), port 25
	Submission  = "submission"  // message submission with STARTTLS (RFC 6409), port 587
	Submissions = "submissions" // message submission over implicit TLS (RFC 8314), port 465
	LMTP        = "lmtp"        // LMTP (RFC 2033), usually a Unix socket
	IMAP        = "imap"        // IMAP with STARTTLS, port 143
	IMAPS       = "imaps"       // IMAP over implicit TLS (RFC 8314), port 993
	HTTP        = "http"        // JMAP, management API, ACME http-01, port 80
	HTTPS       = "https"       // the same over TLS, port 443
	Sieve       = "sieve"       // ManageSieve (RFC 5804), port 4190
	Spamd       = "spamd"       // SpamAssassin's SPAMD protocol, port 783
	Milter      = "milter"      // milter protocol for other MTAs, port 11332
)

// listenFDsStart is SD_LISTEN_FDS_START, the first inherited descriptor.
const listenFDsStart = 3

var knownNames = []string{SMTP, Submission, Submissions, LMTP, IMAP, IMAPS, HTTP, HTTPS, Sieve, Spamd, Milter}

// Known reports whether name is one of the socket names Gannet knows.
func Known(name string) bool {
	for _, n := range knownNames {
		if n == name {
			return true
		}
	}
	return false
}

// Listener is a listening socket together with its role.
type Listener struct {
	// Name is the role: one of the constants SMTP, Submission... .
	Name string
	net.Listener
}

// Open returns the daemon's listening sockets.
//
// When the process was socket-activated (LISTEN_FDS and LISTEN_PID name this
// process) the inherited sockets are used, named by LISTEN_FDNAMES, and the
// addresses in cfg are ignored; an inherited socket without a name or with a
// name Open does not know is an error naming it. The LISTEN_* variables are
// removed from the environment so child processes do not see them.
//
// Otherwise Open listens on the address of every entry of cfg: host:port for
// TCP, or an absolute path (starting with "/") for a Unix socket. A stale Unix
// socket file (one nobody listens on) is removed first; any other file at
// that path is left alone and reported.
//
// On error every socket opened so far is closed.
//
// A listener with proxy_protocol = true reads a PROXY protocol header (v1 or
// v2) from every connection before Accept returns it, and only from the
// proxies named with TrustedProxies; see that option.
func Open(ctx context.Context, cfg []config.Listener, opts ...Option) ([]Listener, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if files := activation.Files(true); len(files) > 0 {
		return fromActivation(files, cfg, &o)
	}
	return fromConfig(ctx, cfg, &o)
}

// Option changes how Open sets up its listeners.
type Option func(*options)

type options struct {
	trusted []netip.Prefix
	log     *slog.Logger
}

// TrustedProxies names the proxies (server.proxy_trusted_networks, parsed
// by config.Server.ProxyPrefixes) whose PROXY protocol header a listener
// with proxy_protocol = true believes. Without it no proxy is trusted and
// such a listener is an error.
func TrustedProxies(nets []netip.Prefix) Option {
	return func(o *options) { o.trusted = nets }
}

// WithLog sets the logger of the listeners' own complaints (a connection
// refused for its PROXY header); default slog.Default().
func WithLog(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
}

// fromActivation turns the inherited descriptors into Listeners.
func fromActivation(files []*os.File, cfg []config.Listener, o *options) ([]Listener, error) {
	defer func() {
		for _, f := range files {
			f.Close() // net.FileListener holds its own duplicate
		}
	}()
	var ls []Listener
	for i, f := range files {
		name := f.Name()
		fd := listenFDsStart + i // not f.Fd(): that would make the socket blocking
		if strings.HasPrefix(name, "LISTEN_FD_") {
			closeAll(ls)
			return nil, fmt.Errorf("listen: socket-activated fd %d has no name: set FileDescriptorName= in its .socket unit (or --fdname=) to one of %s", fd, strings.Join(knownNames, ", "))
		}
		if !Known(name) {
			closeAll(ls)
			return nil, fmt.Errorf("listen: socket-activated fd %d has the unknown name %q (known: %s)", fd, name, strings.Join(knownNames, ", "))
		}
		nl, err := net.FileListener(f)
		if err != nil {
			closeAll(ls)
			return nil, fmt.Errorf("listen: socket-activated fd %d (%s) is not a listening stream socket: %w", fd, name, err)
		}
		// The options of a config entry of the same name (its address is
		// ignored) still apply to the inherited socket.
		for _, c := range cfg {
			if c.Name == name {
				wrapped, err := applyOptions(nl, c, o)
				if err != nil {
					nl.Close()
					closeAll(ls)
					return nil, err
				}
				nl = wrapped
				break
			}
		}
		ls = append(ls, Listener{Name: name, Listener: nl})
	}
	return ls, nil
}

// fromConfig listens on the configured addresses.
func fromConfig(ctx context.Context, cfg []config.Listener, o *options) ([]Listener, error) {
	var ls []Listener
	for _, c := range cfg {
		l, err := listenOne(ctx, c, o)
		if err != nil {
			closeAll(ls)
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func listenOne(ctx context.Context, c config.Listener, o *options) (Listener, error) {
	if !Known(c.Name) {
		return Listener{}, fmt.Errorf("listen: listener %q: unknown name (known: %s)", c.Name, strings.Join(knownNames, ", "))
	}
	if c.Address == "" {
		return Listener{}, fmt.Errorf("listen: listener %q: no address", c.Name)
	}
	var lc net.ListenConfig
	var nl net.Listener
	var err error
	if strings.HasPrefix(c.Address, "/") {
		if err := os.MkdirAll(filepath.Dir(c.Address), 0o750); err != nil {
			return Listener{}, fmt.Errorf("listen: listener %q: %w", c.Name, err)
		}
		if err := removeStaleSocket(c.Address); err != nil {
			return Listener{}, fmt.Errorf("listen: listener %q: %w", c.Name, err)
		}
		nl, err = lc.Listen(ctx, "unix", c.Address)
	} else {
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			return Listener{}, fmt.Errorf("listen: listener %q: address %q is neither host:port nor an absolute path: %w", c.Name, c.Address, err)
		}
		nl, err = lc.Listen(ctx, "tcp", c.Address)
	}
	if err != nil {
		return Listener{}, fmt.Errorf("listen: listener %q: %w", c.Name, err)
	}
	wrapped, err := applyOptions(nl, c, o)
	if err != nil {
		nl.Close()
		return Listener{}, err
	}
	return Listener{Name: c.Name, Listener: wrapped}, nil
}

// removeStaleSocket removes a Unix socket file left behind by a process that
// is gone. It refuses to remove anything that is not a socket, or a socket
// some process still accepts on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: another process is listening on it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: checking for a stale socket: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	return nil
}

// applyOptions wraps a listener according to the options of its config
// entry: with proxy_protocol, in a listener that reads the PROXY header of
// every connection (see proxy.go).
func applyOptions(nl net.Listener, c config.Listener, o *options) (net.Listener, error) {
	if !c.ProxyProtocol {
		return nl, nil
	}
	if len(o.trusted) == 0 {
		return nil, fmt.Errorf("listen: listener %q: proxy_protocol is set but no proxy is trusted (server.proxy_trusted_networks)", c.Name)
	}
	return newProxyListener(nl, c.Name, o.trusted, o.log), nil
}

func closeAll(ls []Listener) {
	for _, l := range ls {
		l.Close()
	}
}
