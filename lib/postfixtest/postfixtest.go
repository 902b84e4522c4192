// Package postfixtest runs a private Postfix instance, for tests and
// benchmarks that put Gannet next to the real thing: its own configuration,
// queue and data directories and log file in a temporary directory, its
// smtpd on a free loopback port, nothing shared with the system's Postfix
// (which may be absent, stopped or running).
//
//	pf := postfixtest.New(t, postfixtest.Options{Main: map[string]string{
//		"virtual_mailbox_domains": "example.test",
//		"virtual_transport":       "lmtp:inet:127.0.0.1:2424",
//	}})
//	// send to pf.Addr; read pf.Log()
//
// It needs root (Postfix's master runs as root and its daemons as the
// postfix user) and the Debian postfix package, which Install adds with
// apt-get when it is missing.
package postfixtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds starting an instance: `postfix start` and the wait
// for its smtpd port.
const StartTimeout = 60 * time.Second

// StopTimeout is how long Stop waits for the master to exit after
// `postfix stop` before it kills the instance's processes.
const StopTimeout = 15 * time.Second

// Options configure an instance.
type Options struct {
	// Main holds main.cf parameters (name to value) set after, and so
	// overriding, the package's defaults.
	Main map[string]string
	// Services are master.cf lines added after the default services, as
	// "name type private unpriv chroot wakeup maxproc command args".
	Services []string
	// Logf, when set, is told what the instance is doing.
	Logf func(format string, args ...any)
	// Keep leaves the instance's directory in place after Stop.
	Keep bool
}

// Instance is a running private Postfix.
type Instance struct {
	// Dir holds everything of the instance.
	Dir string
	// ConfigDir holds main.cf and master.cf (postfix -c ConfigDir).
	ConfigDir string
	// QueueDir is the queue_directory.
	QueueDir string
	// DataDir is the data_directory.
	DataDir string
	// LogFile is the maillog_file, written by the postlog service.
	LogFile string
	// Addr is host:port of the instance's smtpd (127.0.0.1, a free port).
	Addr string
	// Port is Addr's port.
	Port int

	keep bool
	logf func(format string, args ...any)

	mu      sync.Mutex
	stopped bool
}

// Postfix returns the path of the postfix command, or an error when the
// package is not installed.
func Postfix() (string, error) {
	return command("postfix")
}

// command finds a Postfix program, in PATH or in /usr/sbin (which PATH may
// lack for a user other than root).
func command(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not installed (Debian package postfix; scripts/test-deps.sh installs it)", name)
	}
	return p, nil
}

// SMTPSource returns the path of smtp-source, Postfix's load generator
// (in the Debian postfix package).
func SMTPSource() (string, error) {
	return command("smtp-source")
}

var installMu sync.Mutex

// Install makes sure Postfix is installed: when it is missing it installs
// the Debian package with apt-get (as root, non-interactively, with
// debconf's "No configuration", so that the package sets up no instance of
// its own). Should the system's instance start anyway, it is stopped: only
// the private instances of this package are used. It fails, rather than
// skips, when Postfix cannot be had.
func Install(ctx context.Context, logf func(format string, args ...any)) error {
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := Postfix(); err == nil {
		if _, err := SMTPSource(); err == nil {
			return nil
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("postfix is not installed and installing it needs root: apt-get install postfix")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("postfix is not installed and there is no apt-get to install it with")
	}
	if logf != nil {
		logf("postfixtest: installing the Debian postfix package")
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run := func(stdin string, name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out, 4000))
		}
		return nil
	}
	if err := run("postfix postfix/main_mailer_type select No configuration\n", "debconf-set-selections"); err != nil {
		return err
	}
	// Wait for another apt-get (a parallel test package) rather than fail.
	install := []string{"-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "--no-install-recommends", "postfix"}
	if err := run("", "apt-get", install...); err != nil {
		// The package lists may be missing or stale.
		if err := run("", "apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"); err != nil {
			return err
		}
		if err := run("", "apt-get", install...); err != nil {
			return err
		}
	}
	postfix, err := Postfix()
	if err != nil {
		return err
	}
	if _, err := SMTPSource(); err != nil {
		return err
	}
	// The system's instance, should the package have started one (it does
	// not with "No configuration"), is not ours to use: stop it.
	if _, err := os.Stat("/etc/postfix/main.cf"); err == nil {
		if exec.CommandContext(ctx, postfix, "status").Run() == nil {
			if logf != nil {
				logf("postfixtest: stopping the system's Postfix that the installation started")
			}
			if out, err := exec.CommandContext(ctx, postfix, "stop").CombinedOutput(); err != nil {
				return fmt.Errorf("postfix stop (the system's instance): %w\n%s", err, out)
			}
		}
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// New starts an instance for a test (installing Postfix if needed), stops
// it when the test ends and then, if the test failed, logs Postfix's log.
// Any failure to start fails the test.
func New(t testing.TB, opts Options) *Instance {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := Install(ctx, opts.Logf); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	in, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postfix log (%s):\n%s", in.LogFile, in.Log())
		}
		if err := in.Stop(); err != nil {
			t.Errorf("postfixtest: %v", err)
		}
	})
	return in
}

// Start starts an instance in a new temporary directory; Stop stops it and
// removes the directory. Postfix must be installed (see Install) and the
// caller root.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("a private Postfix instance needs root")
	}
	postfix, err := Postfix()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		return nil, err
	}
	// Postfix's daemons run as the postfix user and must reach the queue
	// and data directories through this one.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	in := &Instance{
		Dir:       dir,
		ConfigDir: filepath.Join(dir, "etc"),
		QueueDir:  filepath.Join(dir, "spool"),
		DataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "maillog"),
		Addr:      net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:      port,
		keep:      opts.Keep,
		logf:      opts.Logf,
	}
	if err := in.writeConfig(opts); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}

	sctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	out, err := exec.CommandContext(sctx, postfix, "-c", in.ConfigDir, "start").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("postfix -c %s start: %w\n%s\nlog:\n%s", in.ConfigDir, err, out, in.Log())
		in.Stop()
		return nil, err
	}
	if err := in.waitPort(sctx); err != nil {
		err = fmt.Errorf("postfix started but its smtpd does not answer on %s: %w\nlog:\n%s", in.Addr, err, in.Log())
		in.Stop()
		return nil, err
	}
	in.printf("postfixtest: Postfix running in %s, smtpd on %s", dir, in.Addr)
	return in, nil
}

func (in *Instance) printf(format string, args ...any) {
	if in.logf != nil {
		in.logf(format, args...)
	}
}

// defaultMain is main.cf before Options.Main: a Postfix that receives on
// loopback only, delivers nowhere by default and logs to a file.
func (in *Instance) defaultMain() map[string]string {
	return map[string]string{
		"compatibility_level":   "3.6",
		"queue_directory":       in.QueueDir,
		"data_directory":        in.DataDir,
		"mail_owner":            "postfix",
		"setgid_group":          "postdrop",
		"myhostname":            "postfix.test",
		"mydomain":              "postfix.test",
		"myorigin":              "$myhostname",
		"mydestination":         "",
		"local_recipient_maps":  "",
		"alias_maps":            "",
		"alias_database":        "",
		"inet_interfaces":       "127.0.0.1",
		"inet_protocols":        "ipv4",
		"mynetworks":            "127.0.0.0/8",
		"smtpd_banner":          "$myhostname ESMTP",
		"biff":                  "no",
		"maillog_file":          in.LogFile,
		"maillog_file_prefixes": in.Dir,
		// No mail leaves the machine: what a test does not route
		// explicitly fails at once rather than waiting on DNS.
		"default_transport":         "error:5.7.1 this test Postfix delivers nowhere else",
		"relay_transport":           "error:5.7.1 this test Postfix relays nowhere else",
		"smtpd_relay_restrictions":  "permit_mynetworks, reject_unauth_destination",
		"notify_classes":            "",
		"smtp_tls_security_level":   "none",
		"smtpd_tls_security_level":  "none",
		"virtual_mailbox_domains":   "",
		"relay_domains":             "",
		"smtputf8_enable":           "yes",
		"message_size_limit":        "52428800",
		"mailbox_size_limit":        "0",
		"virtual_mailbox_limit":     "0",
		"delay_warning_time":        "0h",
		"bounce_queue_lifetime":     "0",
		"maximal_queue_lifetime":    "1h",
		"smtpd_client_restrictions": "",
		"smtpd_helo_restrictions":   "",
		"smtpd_sender_restrictions": "",
		"smtpd_data_restrictions":   "",
	}
}

// masterServices are the master.cf services besides the smtpd listener:
// Debian's defaults without chroot (the instance's directory holds no
// copies of /etc files).
var masterServices = []string{
	"pickup    unix  n       -       n       60      1       pickup",
	"cleanup   unix  n       -       n       -       0       cleanup",
	"qmgr      unix  n       -       n       300     1       qmgr",
	"tlsmgr    unix  -       -       n       1000?   1       tlsmgr",
	"rewrite   unix  -       -       n       -       -       trivial-rewrite",
	"bounce    unix  -       -       n       -       0       bounce",
	"defer     unix  -       -       n       -       0       bounce",
	"trace     unix  -       -       n       -       0       bounce",
	"verify    unix  -       -       n       -       1       verify",
	"flush     unix  n       -       n       1000?   0       flush",
	"proxymap  unix  -       -       n       -       -       proxymap",
	"proxywrite unix -       -       n       -       1       proxymap",
	"smtp      unix  -       -       n       -       -       smtp",
	"relay     unix  -       -       n       -       -       smtp",
	"showq     unix  n       -       n       -       -       showq",
	"error     unix  -       -       n       -       -       error",
	"retry     unix  -       -       n       -       -       error",
	"discard   unix  -       -       n       -       -       discard",
	"local     unix  -       n       n       -       -       local",
	"virtual   unix  -       n       n       -       -       virtual",
	"lmtp      unix  -       -       n       -       -       lmtp",
	"anvil     unix  -       -       n       -       1       anvil",
	"scache    unix  -       -       n       -       1       scache",
	"postlog   unix-dgram n  -       n       -       1       postlogd",
}

// writeConfig writes main.cf and master.cf.
func (in *Instance) writeConfig(opts Options) error {
	if err := os.MkdirAll(in.ConfigDir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{in.QueueDir, in.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The data directory belongs to mail_owner (the master's lock file,
	// the TLS session cache).
	owner, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("the postfix user (the Debian package creates it): %w", err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := os.Chown(in.DataDir, uid, gid); err != nil {
		return err
	}
	params := in.defaultMain()
	maps.Copy(params, opts.Main)
	var main bytes.Buffer
	main.WriteString("# Written by gannet/lib/postfixtest.\n")
	for _, name := range slices.Sorted(maps.Keys(params)) {
		value := params[name]
		if strings.ContainsAny(name+value, "\n\r") {
			return fmt.Errorf("main.cf parameter %q: a line break in the name or value", name)
		}
		fmt.Fprintf(&main, "%s = %s\n", name, value)
	}
	var master bytes.Buffer
	master.WriteString("# Written by gannet/lib/postfixtest.\n")
	fmt.Fprintf(&master, "%s inet n - n - - smtpd\n", in.Addr)
	for _, line := range append(slices.Clone(masterServices), opts.Services...) {
		if strings.ContainsAny(line, "\n\r") {
			return fmt.Errorf("master.cf line %q: a line break", line)
		}
		master.WriteString(line + "\n")
	}
	if err := os.WriteFile(filepath.Join(in.ConfigDir, "main.cf"), main.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(in.ConfigDir, "master.cf"), master.Bytes(), 0o644)
}

// waitPort waits until the instance's smtpd accepts a connection.
func (in *Instance) waitPort(ctx context.Context) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", in.Addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Log returns what the instance has logged so far ("" before anything).
func (in *Instance) Log() string {
	b, err := os.ReadFile(in.LogFile)
	if err != nil {
		return ""
	}
	return string(b)
}

// WaitLog waits until the log has a line that re matches and returns the
// first such line; it fails when ctx ends first.
func (in *Instance) WaitLog(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		for line := range strings.Lines(in.Log()) {
			if re.MatchString(line) {
				return strings.TrimRight(line, "\n"), nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("postfix log has no line matching %q: %w", re, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// MasterPID returns the pid of the instance's master process, 0 when it
// is not running.
func (in *Instance) MasterPID() int {
	b, err := os.ReadFile(filepath.Join(in.QueueDir, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !alive(pid) {
		return 0
	}
	return pid
}

// PIDs returns the instance's processes: the master and every process
// below it (nil when the master is not running).
func (in *Instance) PIDs() []int {
	master := in.MasterPID()
	if master == 0 {
		return nil
	}
	return append([]int{master}, descendants(master)...)
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, state, ok := parseStat(b)
	return ok && state != 'Z' && state != 'X'
}

// parseStat returns the parent pid and state from /proc/PID/stat.
func parseStat(b []byte) (ppid int, state byte, ok bool) {
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

// descendants returns the processes below pid.
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
		if ppid, _, ok := parseStat(b); ok {
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

// Stop stops the instance with `postfix stop`, kills its processes if the
// master has not exited within StopTimeout, and removes its directory
// (unless Options.Keep). It may be called more than once.
func (in *Instance) Stop() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return nil
	}
	in.stopped = true
	var errs []error
	pids := in.PIDs()
	if len(pids) > 0 {
		if postfix, err := Postfix(); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
			out, err := exec.CommandContext(ctx, postfix, "-c", in.ConfigDir, "stop").CombinedOutput()
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("postfix -c %s stop: %w\n%s", in.ConfigDir, err, out))
			}
		}
		deadline := time.Now().Add(StopTimeout)
		for alive(pids[0]) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pids[0]) {
			errs = append(errs, fmt.Errorf("postfix master %d still running %v after postfix stop; killed", pids[0], StopTimeout))
			// The master and everything it started, by their pids.
			for _, pid := range append(pids, descendants(pids[0])...) {
				if alive(pid) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	if !in.keep {
		if err := os.RemoveAll(in.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
