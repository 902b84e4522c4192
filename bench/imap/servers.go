package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gannet/bench/internal/benchutil"
	"gannet/lib/fts"
	"gannet/lib/message"
	"gannet/lib/postfixtest"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// The accounts of the run: user holds the big mailbox (INBOX) and the
// mailbox the APPEND load fills; idleUser the small INBOX the IDLE
// connections select.
const (
	domain      = "example.test"
	user        = "demo@" + domain
	idleUser    = "idle@" + domain
	password    = "bench-password-not-secret"
	loadMailbox = "Load"
	// idleMessages is how many messages idleUser's INBOX holds.
	idleMessages = 100
	// fillBatch is how many messages one AddMessages call stores.
	fillBatch = 1000
)

// server is an IMAP server under test, listening with implicit TLS.
type server interface {
	// Name is "gannet" or "dovecot".
	Name() string
	// Addr is host:port of the imaps listener.
	Addr() string
	// PIDs are the server's processes now.
	PIDs() []int
	// Resident is the server's resident memory now, in bytes: VmRSS of
	// imapd; the sum of Pss over Dovecot's processes (shared pages
	// divided among those sharing them).
	Resident() (int64, error)
	// CPU is the processor time the server's live processes have used.
	CPU() time.Duration
	// Fresh makes sure the next phase starts on a fresh process where
	// that is cheap (imapd is restarted, so that its peak RSS is the
	// phase's own); Dovecot starts a process per connection anyway.
	Fresh(ctx context.Context) error
	// Stop stops the server and removes its files.
	Stop() error
	// LogTail is the end of the server's log, for errors.
	LogTail() string
}

// writeCert writes a self-signed ECDSA P-256 certificate for localhost
// and its key, PEM, to dir/cert.pem and dir/key.pem; both servers use it.
func writeCert(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost", "mx." + domain},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// gannetServer is imapd on a store in a temporary directory.
type gannetServer struct {
	dir, bin, config, addr string
	d                      *benchutil.Daemon
	// profile runs the server in this process (-profile), as inproc.
	profile bool
	inproc  *inProcess
}

// startGannet makes the accounts, fills user's INBOX with big and
// idleUser's with idle through the store, and starts imapd.
func startGannet(ctx context.Context, cfg Config, big, idle []mail) (_ *gannetServer, err error) {
	dir, err := os.MkdirTemp("", "gannet-bench-imap-")
	if err != nil {
		return nil, err
	}
	g := &gannetServer{dir: dir, bin: cfg.Bin, profile: cfg.Profile != ""}
	defer func() {
		if err != nil {
			g.Stop()
		}
	}()
	if g.bin == "" {
		g.bin = filepath.Join(dir, "bin")
		cfg.logf("building imapd and userctl into %s", g.bin)
		if err := benchutil.Build(ctx, g.bin, "./cmd/imapd", "./cmd/userctl"); err != nil {
			return nil, err
		}
	}
	certFile, keyFile, err := writeCert(dir)
	if err != nil {
		return nil, err
	}
	port, err := postfixtest.FreePort()
	if err != nil {
		return nil, err
	}
	g.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	g.config = filepath.Join(dir, "gannet.toml")
	conf := fmt.Sprintf(`[server]
hostname = "mx.%s"
state_dir = %q
runtime_dir = %q

[directory.argon2]
time = 1
memory_kib = 1024
threads = 1

[tls]
cert_file = %q
key_file = %q

[log]
level = "warn"

[[imapd.listener]]
name = "imaps"
address = %q
`, domain, dir, filepath.Join(dir, "run"), certFile, keyFile, g.addr)
	if err := os.WriteFile(g.config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	userctl := filepath.Join(g.bin, "userctl")
	if err := benchutil.RunCmd(ctx, "", userctl, "--config", g.config, "domain", "add", domain); err != nil {
		return nil, err
	}
	for _, u := range []string{user, idleUser} {
		if err := benchutil.RunCmd(ctx, password+"\n", userctl, "--config", g.config, "user", "add", "--password-stdin", u); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "gannet.db"), ReadConnections: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	err = errors.Join(fillStore(ctx, st, user, big), fillStore(ctx, st, idleUser, idle))
	stored := time.Since(start)
	if err == nil {
		// imapd fills the full-text index of new messages in the
		// background (lib/fts). Done here, before it starts, so that
		// indexing the whole mailbox does not run during the phases, as
		// it would not on a server whose mail arrived over time.
		_, err = (&fts.Indexer{Store: st, Log: slog.New(slog.DiscardHandler)}).IndexOnce(ctx)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("filling the store: %w", err)
	}
	cfg.logf("gannet: %d + %d messages stored in %v, text-indexed in %v", len(big), len(idle),
		stored.Round(time.Millisecond), (time.Since(start) - stored).Round(time.Millisecond))
	return g, g.start(ctx)
}

// fillStore stores msgs in the INBOX of address, parsed as at delivery.
func fillStore(ctx context.Context, st *sqlite.Store, address string, msgs []mail) error {
	acct, err := st.GetAccount(ctx, address)
	if err != nil {
		return err
	}
	inbox, err := st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		return err
	}
	for i := 0; i < len(msgs); i += fillBatch {
		batch := make([]store.NewMessage, 0, fillBatch)
		for _, m := range msgs[i:min(i+fillBatch, len(msgs))] {
			nm := store.NewMessage{AccountID: acct.ID, MailboxID: inbox.ID, Raw: m.raw,
				Meta: message.Parse(m.raw).Meta(), InternalDate: m.date}
			if m.seen {
				nm.Flags = []string{`\Seen`}
			}
			batch = append(batch, nm)
		}
		if _, err := st.AddMessages(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

func (g *gannetServer) start(ctx context.Context) error {
	if g.profile {
		return g.startInProcess(ctx)
	}
	d, err := benchutil.StartDaemon(filepath.Join(g.bin, "imapd"), filepath.Join(g.dir, "imapd.log"), "--config", g.config)
	if err != nil {
		return err
	}
	g.d = d
	if err := benchutil.WaitPort(ctx, g.addr, d.Exited()); err != nil {
		return fmt.Errorf("imapd: %w\n%s", err, d.LogTail(3000))
	}
	return nil
}

func (g *gannetServer) Name() string { return "gannet" }
func (g *gannetServer) Addr() string { return g.addr }

// pid is imapd's process, or this one with -profile.
func (g *gannetServer) pid() int {
	if g.profile {
		return os.Getpid()
	}
	return g.d.Pid()
}

func (g *gannetServer) PIDs() []int {
	if g.d == nil && !g.profile {
		return nil
	}
	return []int{g.pid()}
}

func (g *gannetServer) Resident() (int64, error) {
	return benchutil.ProcKB(g.pid(), "status", "VmRSS:")
}

func (g *gannetServer) CPU() time.Duration {
	c, err := benchutil.ProcCPU(g.pid())
	if err != nil {
		return 0
	}
	return c.Self
}

func (g *gannetServer) Fresh(ctx context.Context) error {
	if g.profile {
		if err := g.stopInProcess(); err != nil {
			return err
		}
		return g.start(ctx)
	}
	if err := g.d.Stop(); err != nil {
		return fmt.Errorf("stopping imapd: %w\n%s", err, g.d.LogTail(3000))
	}
	return g.start(ctx)
}

func (g *gannetServer) Stop() error {
	err := g.stopInProcess()
	if g.d != nil {
		if err = g.d.Stop(); err != nil {
			err = fmt.Errorf("stopping imapd: %w\n%s", err, g.d.LogTail(3000))
		}
	}
	os.RemoveAll(g.dir)
	return err
}

func (g *gannetServer) LogTail() string {
	return "imapd log:\n" + string(benchutil.Tail(benchutil.ReadFile(filepath.Join(g.dir, "imapd.log")), 3000))
}

// dovecotServer is a private Dovecot instance: its configuration, state
// and maildirs in a temporary directory, listening for imaps on loopback.
type dovecotServer struct {
	dir, conf, addr string
	d               *benchutil.Daemon
}

// dovecotBin is Dovecot's master program (Debian's dovecot-core).
const dovecotBin = "/usr/sbin/dovecot"

// installDovecot installs Debian's dovecot-imapd when Dovecot's imap
// program is missing.
func installDovecot(ctx context.Context, logf func(string, ...any)) error {
	if _, err := os.Stat("/usr/lib/dovecot/imap"); err == nil {
		if _, err := os.Stat(dovecotBin); err == nil {
			return nil
		}
	}
	logf("installing dovecot-imapd with apt-get")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, benchutil.Tail(out, 2000))
		}
		return nil
	}
	install := []string{"install", "-y", "-q", "--no-install-recommends", "dovecot-imapd"}
	if err := run(install...); err != nil {
		if err := run("update", "-q"); err != nil {
			return err
		}
		return run(install...)
	}
	return nil
}

// startDovecot writes user's INBOX (big) and idleUser's (idle) as
// maildirs owned by nobody, and starts Dovecot in the foreground as root
// with a configuration of its own: passwd-file authentication, imaps on a
// loopback port with the same certificate as imapd, Dovecot's defaults
// otherwise (the login process per connection proxying TLS, the
// "high-security" mode), with the limits raised for the IDLE phase.
func startDovecot(ctx context.Context, cfg Config, big, idle []mail) (_ *dovecotServer, err error) {
	if err := installDovecot(ctx, cfg.logf); err != nil {
		return nil, err
	}
	nobody, err := osUser("nobody")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gannet-bench-dovecot-")
	if err != nil {
		return nil, err
	}
	v := &dovecotServer{dir: dir}
	defer func() {
		if err != nil {
			v.Stop()
		}
	}()
	// The login processes (dovenull) and the mail processes (nobody) go
	// through dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	certFile, keyFile, err := writeCert(dir)
	if err != nil {
		return nil, err
	}
	mailDir := filepath.Join(dir, "mail")
	start := time.Now()
	if err := writeMaildir(filepath.Join(mailDir, user), big, nobody.uid, nobody.gid); err != nil {
		return nil, err
	}
	if err := writeMaildir(filepath.Join(mailDir, idleUser), idle, nobody.uid, nobody.gid); err != nil {
		return nil, err
	}
	if err := chownTree(mailDir, nobody.uid, nobody.gid); err != nil {
		return nil, err
	}
	cfg.logf("dovecot: %d + %d messages written to maildirs in %v", len(big), len(idle), time.Since(start).Round(time.Millisecond))
	passwd := filepath.Join(dir, "passwd")
	var pw strings.Builder
	for _, u := range []string{user, idleUser} {
		fmt.Fprintf(&pw, "%s:{PLAIN}%s::::::\n", u, password)
	}
	// The auth process runs as the dovecot user.
	if err := os.WriteFile(passwd, []byte(pw.String()), 0o644); err != nil {
		return nil, err
	}
	port, err := postfixtest.FreePort()
	if err != nil {
		return nil, err
	}
	v.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	v.conf = filepath.Join(dir, "dovecot.conf")
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <%[2]s
ssl_key = <%[3]s
disable_plaintext_auth = yes
auth_mechanisms = plain
mail_location = maildir:~
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
default_process_limit = %[6]d
default_client_limit = %[7]d
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[4]s
}
userdb {
  driver = static
  args = uid=%[8]d gid=%[9]d home=%[5]s/%%u
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[10]d
    ssl = yes
  }
}
protocol imap {
  mail_max_userip_connections = %[7]d
}
`, dir, certFile, keyFile, passwd, mailDir, 2*cfg.Idle+100, 4*cfg.Idle+1000, nobody.uid, nobody.gid, port)
	if err := os.WriteFile(v.conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	d, err := benchutil.StartDaemon(dovecotBin, filepath.Join(dir, "dovecot.out"), "-F", "-c", v.conf)
	if err != nil {
		return nil, err
	}
	v.d = d
	if err := benchutil.WaitPort(ctx, v.addr, d.Exited()); err != nil {
		return nil, fmt.Errorf("dovecot: %w\n%s", err, v.LogTail())
	}
	return v, nil
}

type uidGid struct{ uid, gid int }

func osUser(name string) (uidGid, error) {
	u, err := osuser.Lookup(name)
	if err != nil {
		return uidGid{}, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return uidGid{}, fmt.Errorf("user %s: %w", name, err)
	}
	return uidGid{uid, gid}, nil
}

func (v *dovecotServer) Name() string { return "dovecot" }
func (v *dovecotServer) Addr() string { return v.addr }

func (v *dovecotServer) PIDs() []int {
	if v.d == nil {
		return nil
	}
	return append([]int{v.d.Pid()}, descendants(v.d.Pid())...)
}

func (v *dovecotServer) Resident() (int64, error) {
	var sum int64
	for _, pid := range v.PIDs() {
		pss, err := benchutil.ProcKB(pid, "smaps_rollup", "Pss:")
		if err == nil {
			sum += pss
		}
	}
	if sum == 0 {
		return 0, errors.New("no Dovecot process to measure")
	}
	return sum, nil
}

func (v *dovecotServer) CPU() time.Duration {
	return benchutil.TreeCPU(v.PIDs())
}

func (v *dovecotServer) Fresh(context.Context) error { return nil }

func (v *dovecotServer) Stop() error {
	var err error
	if v.d != nil {
		err = v.d.Stop()
	}
	os.RemoveAll(v.dir)
	return err
}

func (v *dovecotServer) LogTail() string {
	return "dovecot log:\n" + string(benchutil.Tail(benchutil.ReadFile(filepath.Join(v.dir, "dovecot.log")), 3000)) +
		string(benchutil.Tail(benchutil.ReadFile(filepath.Join(v.dir, "dovecot.out")), 1000))
}

// descendants returns the processes below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// vmHWM is imapd's peak resident memory since it started.
func vmHWM(g *gannetServer) (int64, error) { return benchutil.VmHWM(g.pid()) }
