// Command queue measures delivery out of the queue: Gannet's queued next
// to a private Postfix (lib/postfixtest) on the same work, in one run.
//
//   - remote, end to end: smtp-source sends N messages of S bytes over W
//     parallel sessions to the server's port 25 from 127.0.0.1 (a relay
//     network), addressed to remote.test, whose MX (answered by
//     lib/dnstest on loopback) is Postfix's smtp-sink on 127.0.0.1. The
//     clock runs from the start of smtp-source until smtp-sink has counted
//     N messages. Gannet is smtpd and queued; Postfix relays with
//     relay_transport = relay:[127.0.0.1]:PORT.
//   - remote, queue drain: the same N messages are queued first with
//     nothing delivering (Gannet: through smtpd with queued stopped;
//     Postfix: through its smtpd into the hold queue), then the clock runs
//     from the start of queued (Postfix: postsuper -H ALL; postqueue -f)
//     until smtp-sink has N.
//   - local, queue drain: N messages of S bytes for a local account are
//     queued (Gannet: through the store's Enqueue, since smtpd delivers
//     local mail itself and queues nothing; Postfix: through its smtpd
//     into the hold queue), then the clock runs from the start of queued
//     (Postfix: release as above) until the mailbox holds N (Gannet's
//     store; Postfix's maildir new/, written by virtual(8)).
//
// Besides msg/s it prints the processor time the server's processes used
// (user and system, until the last message arrived; Postfix's master
// counts its exited children), which other work on the machine disturbs
// less than wall time, and their peak resident memory.
//
// queued signs the remote mail with DKIM (the sender's domain is local and
// has the keys `userctl dkim create` makes, RSA-2048 and Ed25519: two
// signatures a message), so signing is part of the remote figures, while
// Postfix signs nothing; -dkim=false leaves it out. One extra message,
// after the clock, to a second smtp-sink that keeps it, shows the
// signatures. MTA-STS is off
// (there is no HTTPS policy server here) and the smtpd checks of inbound
// mail are off, so that both servers do the same work; bench/smtp
// measures the checks. smtp-sink does not offer CHUNKING, so queued sends
// DATA with dot-stuffing (the run says what the sink offered).
//
//	go run ./bench/queue [-n 2000] [-size 10240] [-sessions 20] [-only gannet|postfix] [-case remote|drain|local] [-dkim=false] [-bin DIR] [-v]
//
// It needs root and Postfix's smtp-source and smtp-sink (Debian package
// postfix, which lib/postfixtest installs when missing). It fails only
// when a run cannot be carried out: the figures are reported, never
// judged.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gannet/bench/internal/benchutil"
	"gannet/lib/dnstest"
	"gannet/lib/postfixtest"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// The names of the run. Mail goes from sender (a local domain of both
// servers, so that queued signs it) to remoteRcpt or to the local account
// localRcpt; clientName is smtp-source's HELO name.
const (
	localDomain  = "example.test"
	localRcpt    = "demo@" + localDomain
	sender       = "bench@" + localDomain
	clientName   = "client." + localDomain
	remoteDomain = "remote.test"
	remoteRcpt   = "user@" + remoteDomain
	sinkHost     = "sink." + remoteDomain
	// checkDomain's MX is a second smtp-sink, on checkAddr, which keeps
	// the one message sent there to see its DKIM signatures.
	checkDomain = "check.test"
	checkRcpt   = "dkim@" + checkDomain
	checkHost   = "sink." + checkDomain
	checkAddr   = "127.0.0.2"
	password    = "bench-password-not-secret"
)

// The cases, in the order they run.
const (
	caseRemote = "remote" // remote, end to end
	caseDrain  = "drain"  // remote, queue drain
	caseLocal  = "local"  // local, queue drain
)

var caseNames = map[string]string{
	caseRemote: "remote, end to end",
	caseDrain:  "remote, queue drain",
	caseLocal:  "local, queue drain",
}

// Bounds of the waits, and how often progress and Postfix's memory are
// looked at.
const (
	drainTimeout = 5 * time.Minute
	checkTimeout = 30 * time.Second
	pollEvery    = 5 * time.Millisecond
	sampleEvery  = 100 * time.Millisecond
	// enqueueBatch is how many entries one Enqueue call stores.
	enqueueBatch = 100
)

// Config is one benchmark run.
type Config struct {
	Messages int    // messages per case
	Size     int    // payload bytes of each (smtp-source -l)
	Sessions int    // parallel SMTP sessions (smtp-source -s)
	Only     string // "gannet", "postfix" or "" for both
	Case     string // caseRemote, caseDrain, caseLocal or "" for all
	DKIM     bool   // queued signs remote mail with DKIM
	Bin      string // directory with smtpd, queued and userctl ("" builds them)
	Verbose  bool   // tell what is happening on stderr
}

// Result is what one server did in one case.
type Result struct {
	Case     string
	Server   string
	Messages int
	// Elapsed is the timed part: from the start of smtp-source (end to
	// end) or of the delivery (drain) until the last message arrived.
	Elapsed time.Duration
	// Fill is how long queueing took: smtp-source's run (end to end:
	// within Elapsed; drain: before it).
	Fill time.Duration
	// PeakRSS is in bytes: the VmHWM of Gannet's processes (queued, and
	// smtpd end to end), summed; for Postfix the largest sum, over the
	// samples taken, of the VmHWM of every process of the instance alive
	// at that moment.
	PeakRSS int64
	// CPU is the processor time the server's processes used, user and
	// system, until the last message arrived (less disturbed by other
	// work on the machine than Elapsed).
	CPU time.Duration
	// Note describes the result (what the RSS is, what was checked).
	Note string
}

// PerSecond is messages delivered per second of the timed part.
func (r Result) PerSecond() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

func main() {
	var cfg Config
	flag.IntVar(&cfg.Messages, "n", 2000, "messages per case")
	flag.IntVar(&cfg.Size, "size", 10*1024, "payload bytes per message (smtp-source -l)")
	flag.IntVar(&cfg.Sessions, "sessions", 20, "parallel SMTP sessions (smtp-source -s)")
	flag.StringVar(&cfg.Only, "only", "", `run one server only: "gannet" or "postfix"`)
	flag.StringVar(&cfg.Case, "case", "", `run one case only: "remote" (end to end), "drain" (remote, queue drain) or "local" (local, queue drain)`)
	flag.BoolVar(&cfg.DKIM, "dkim", true, "have queued sign remote mail with DKIM (-dkim=false to leave signing out)")
	flag.StringVar(&cfg.Bin, "bin", "", "directory holding smtpd, queued and userctl (default: build them into a temporary directory)")
	flag.BoolVar(&cfg.Verbose, "v", false, "say what is happening")
	flag.Parse()
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "queue:", err)
		os.Exit(2)
	}
	run := runInfo{}
	results, err := Run(context.Background(), cfg, &run)
	Print(os.Stdout, cfg, run, results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "queue:", err)
		os.Exit(1)
	}
}

func (cfg Config) validate() error {
	if err := benchutil.CheckLoad(cfg.Messages, cfg.Size, cfg.Sessions, cfg.Only); err != nil {
		return err
	}
	switch {
	case cfg.Case != "" && caseNames[cfg.Case] == "":
		return fmt.Errorf("-case %q: want remote, drain or local", cfg.Case)
	}
	return nil
}

func (cfg Config) logf(format string, args ...any) {
	if cfg.Verbose {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

// cases lists the cases cfg asks for, in order.
func (cfg Config) cases() []string {
	if cfg.Case != "" {
		return []string{cfg.Case}
	}
	return []string{caseRemote, caseDrain, caseLocal}
}

// runInfo is what the run learnt besides the figures.
type runInfo struct {
	// SinkEHLO is smtp-sink's EHLO keywords.
	SinkEHLO []string
	// DKIM describes the signatures queued put on the check message.
	DKIM string
	// Load is the 1-minute load average when the run began: other work
	// on the machine shows in the figures.
	Load string
}

// tools are the Postfix programs the run uses.
type tools struct {
	source, sink, postsuper, postqueue string
}

// Run runs every case cfg asks for, Gannet first in each. It goes on
// after a failed run and returns the results it has, with the failures
// joined.
func Run(ctx context.Context, cfg Config, info *runInfo) ([]Result, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (a private Postfix instance; smtp-sink must drop to the postfix user)")
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err := postfixtest.Install(ictx, cfg.logf)
	cancel()
	if err != nil {
		return nil, err
	}
	var t tools
	for name, p := range map[string]*string{"smtp-source": &t.source, "smtp-sink": &t.sink, "postsuper": &t.postsuper, "postqueue": &t.postqueue} {
		if *p, err = sbin(name); err != nil {
			return nil, err
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			info.Load = f[0]
		}
	}
	ehlo, err := sinkEHLO(ctx, t.sink)
	if err != nil {
		return nil, err
	}
	info.SinkEHLO = ehlo

	tmp, err := os.MkdirTemp("", "gannet-bench-queue-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := cfg.Bin
	if bin == "" && cfg.Only != "postfix" {
		bin = filepath.Join(tmp, "bin")
		cfg.logf("building smtpd, queued and userctl into %s", bin)
		if err := benchutil.Build(ctx, bin, "./cmd/smtpd", "./cmd/queued", "./cmd/userctl"); err != nil {
			return nil, err
		}
	}
	dns, err := dnstest.Start()
	if err != nil {
		return nil, err
	}
	defer dns.Close()
	if err := dns.AddRecords(
		remoteDomain+`. 300 IN MX 10 `+sinkHost+`.`,
		sinkHost+`. 300 IN A 127.0.0.1`,
		remoteDomain+`. 300 IN A 127.0.0.1`,
		checkDomain+`. 300 IN MX 10 `+checkHost+`.`,
		checkHost+`. 300 IN A `+checkAddr,
	); err != nil {
		return nil, err
	}

	var results []Result
	var errs []error
	for _, c := range cfg.cases() {
		if cfg.Only != "postfix" {
			r, err := runGannet(ctx, cfg, t, bin, dns.Addr(), c, info)
			if err != nil {
				errs = append(errs, fmt.Errorf("gannet, %s: %w", caseNames[c], err))
			} else {
				results = append(results, r)
			}
		}
		if cfg.Only != "gannet" {
			r, err := runPostfix(ctx, cfg, t, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("postfix, %s: %w", caseNames[c], err))
			} else {
				results = append(results, r)
			}
		}
	}
	return results, errors.Join(errs...)
}

// Print writes the figures as a small table.
func Print(w io.Writer, cfg Config, info runInfo, results []Result) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "queue: %d messages of %d bytes per case; smtp-source with %d sessions, a new connection per message\n",
		cfg.Messages, cfg.Size, cfg.Sessions)
	if info.Load != "" {
		fmt.Fprintf(w, "  load average at the start: %s on %d CPUs\n", info.Load, runtime.NumCPU())
	}
	if info.SinkEHLO != nil {
		how := "so queued sends DATA, dot-stuffed"
		if slices.Contains(info.SinkEHLO, "CHUNKING") {
			how = "so queued sends BDAT"
		}
		fmt.Fprintf(w, "  smtp-sink offers %s: %s\n", strings.Join(info.SinkEHLO, " "), how)
	}
	switch {
	case !cfg.DKIM:
		fmt.Fprintf(w, "  queued's DKIM signing: off (-dkim=false); check message: %s\n", info.DKIM)
	case info.DKIM != "":
		fmt.Fprintf(w, "  queued's DKIM signing: on (Postfix signs nothing); check message: %s\n", info.DKIM)
	}
	fmt.Fprintf(w, "  %-20s %-8s %9s %9s %9s %9s %10s\n", "case", "server", "msg/s", "elapsed", "fill", "CPU", "peak RSS")
	for _, r := range results {
		fmt.Fprintf(w, "  %-20s %-8s %9.0f %9s %9s %9s %8.1f MB\n", caseNames[r.Case], r.Server, r.PerSecond(),
			r.Elapsed.Round(time.Millisecond), r.Fill.Round(time.Millisecond), r.CPU.Round(10*time.Millisecond),
			float64(r.PeakRSS)/1e6)
	}
	for _, c := range cfg.cases() {
		var g, p *Result
		for i := range results {
			switch {
			case results[i].Case != c:
			case results[i].Server == "gannet":
				g = &results[i]
			case results[i].Server == "postfix":
				p = &results[i]
			}
		}
		if g != nil && p != nil {
			fmt.Fprintf(w, "  ratio gannet/postfix, %s: %.2f (msg/s), %.2f (CPU), %.2f (peak RSS)\n",
				caseNames[c], g.PerSecond()/p.PerSecond(), g.CPU.Seconds()/p.CPU.Seconds(), float64(g.PeakRSS)/float64(p.PeakRSS))
		}
	}
	for _, r := range results {
		fmt.Fprintf(w, "  %s, %s: %s\n", r.Server, caseNames[r.Case], r.Note)
	}
	if slices.Contains(cfg.cases(), caseLocal) {
		fmt.Fprintln(w, "  local end to end (smtpd delivers local mail itself, without the queue): see bench/smtp")
	}
}

// sbin finds a Postfix program, in PATH or in /usr/sbin.
func sbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not installed (Debian package postfix)", name)
	}
	return p, nil
}

// sourceArgs are smtp-source's arguments for sending to rcpt at addr.
func sourceArgs(cfg Config, rcpt, addr string) []string {
	return []string{
		"-s", strconv.Itoa(cfg.Sessions),
		"-m", strconv.Itoa(cfg.Messages),
		"-l", strconv.Itoa(cfg.Size),
		"-M", clientName, // the HELO name
		"-f", sender, "-t", rcpt,
		addr,
	}
}

// source runs smtp-source, sending cfg.Messages to rcpt at addr.
func source(ctx context.Context, cfg Config, path, rcpt, addr string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, sourceArgs(cfg, rcpt, addr)...)
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	cfg.logf("running %s", strings.Join(cmd.Args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("smtp-source: %w\n%s", err, benchutil.Tail(stderr.Bytes(), 2000))
	}
	return nil
}

// waitCount polls count until it reaches n, for up to timeout. It fails
// when count fails or when stop is closed (a process it depends on ended)
// first. It returns the count it saw last.
func waitCount(ctx context.Context, n int, timeout time.Duration, count func() (int, error), stop <-chan struct{}, what string) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := count()
		if err != nil {
			return got, err
		}
		if got >= n {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("only %d of %d %s after %v", got, n, what, timeout)
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-stop:
			return got, fmt.Errorf("stopped with %d of %d %s", got, n, what)
		case <-time.After(pollEvery):
		}
	}
}

// ---------------------------------------------------------------------------
// smtp-sink.

// sink is a running smtp-sink counting the messages it received.
type sink struct {
	addr     string
	messages atomic.Int64
	cmd      *exec.Cmd
	done     chan struct{}
	stderr   bytes.Buffer
}

// startSink starts smtp-sink on addr; with dump set it keeps each message
// in a file under that directory.
func startSink(ctx context.Context, path, addr, dump string) (*sink, error) {
	// -c prints "sess=N quit=N mesg=N" and a carriage return whenever a
	// session ends or a message has been received.
	args := []string{"-c", "-u", "postfix"}
	if dump != "" {
		args = append(args, "-d", dump+"/")
	}
	s := &sink{addr: addr, done: make(chan struct{})}
	s.cmd = exec.Command(path, append(args, addr, "1024")...)
	s.cmd.Stderr = &s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("smtp-sink: %w", err)
	}
	go func() {
		s.count(out)
		s.cmd.Wait()
		close(s.done)
	}()
	if err := benchutil.WaitPort(ctx, addr, s.done); err != nil {
		s.Stop()
		return nil, fmt.Errorf("smtp-sink: %w\n%s", err, s.stderr.String())
	}
	return s, nil
}

// count reads smtp-sink's counters until r ends.
func (s *sink) count(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Split(splitCR)
	for sc.Scan() {
		if n, ok := parseCounter(sc.Text()); ok {
			s.messages.Store(int64(n))
		}
	}
	io.Copy(io.Discard, r) // a line too long: keep the sink unblocked
}

// splitCR splits at carriage returns and newlines.
func splitCR(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

var counterRE = regexp.MustCompile(`\bmesg=(\d+)\b`)

// parseCounter returns the message count of a smtp-sink -c line.
func parseCounter(line string) (int, bool) {
	m := counterRE.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// Messages is how many messages the sink has received.
func (s *sink) Messages() (int, error) { return int(s.messages.Load()), nil }

// Stop ends the sink.
func (s *sink) Stop() {
	s.cmd.Process.Kill()
	<-s.done
}

// sinkEHLO starts a smtp-sink and returns the keywords of its EHLO reply.
func sinkEHLO(ctx context.Context, path string) ([]string, error) {
	port, err := postfixtest.FreePort()
	if err != nil {
		return nil, err
	}
	s, err := startSink(ctx, path, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "")
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(io.LimitReader(c, 64<<10))
	if _, err := readReply(r); err != nil {
		return nil, fmt.Errorf("smtp-sink's greeting: %w", err)
	}
	if _, err := io.WriteString(c, "EHLO "+clientName+"\r\n"); err != nil {
		return nil, err
	}
	lines, err := readReply(r)
	if err != nil {
		return nil, fmt.Errorf("smtp-sink's EHLO reply: %w", err)
	}
	io.WriteString(c, "QUIT\r\n")
	var kw []string
	for _, l := range lines[1:] { // the first line is the greeting name
		if f := strings.Fields(l); len(f) > 0 {
			kw = append(kw, strings.ToUpper(f[0]))
		}
	}
	return kw, nil
}

// readReply reads one SMTP reply (RFC 5321 section 4.2) and returns the
// text of its lines.
func readReply(r *bufio.Reader) ([]string, error) {
	var lines []string
	for len(lines) < 100 {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[0] != '2' {
			return nil, fmt.Errorf("unexpected reply %q", line)
		}
		lines = append(lines, line[4:])
		if line[3] == ' ' {
			return lines, nil
		}
	}
	return nil, errors.New("a reply of more than 100 lines")
}

// ---------------------------------------------------------------------------
// Gannet.

// gannet is a Gannet setup of one case: a state directory with its
// configuration, database, domain, account and DKIM keys.
type gannet struct {
	cfg      Config
	bin      string
	dir      string
	config   string
	smtpAddr string
	sinkPort int
	st       *sqlite.Store
	daemons  []*benchutil.Daemon
}

// newGannet sets up a state directory for one case.
func newGannet(ctx context.Context, cfg Config, bin, dnsAddr string) (*gannet, error) {
	dir, err := os.MkdirTemp("", "gannet-bench-queue-")
	if err != nil {
		return nil, err
	}
	g := &gannet{cfg: cfg, bin: bin, dir: dir, config: filepath.Join(dir, "gannet.toml")}
	ok := false
	defer func() {
		if !ok {
			g.close()
		}
	}()
	smtpPort, err1 := postfixtest.FreePort()
	sinkPort, err2 := postfixtest.FreePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	g.smtpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))
	g.sinkPort = sinkPort
	// smtpd relays for 127.0.0.1 (relay_networks' default) and runs no
	// checks of inbound mail (Postfix runs none either); queued delivers
	// to port sinkPort of the MX hosts, signs with DKIM and does not look
	// for MTA-STS policies.
	conf := fmt.Sprintf(`[server]
hostname = "mx.%s"
state_dir = %q
runtime_dir = %q

[directory.argon2]
time = 1
memory_kib = 1024
threads = 1

[dns]
resolver = %q
timeout = "2s"

[smtpd]
max_messages_per_session = %d

[[smtpd.listener]]
name = "smtp"
address = %q

[smtpd.checks]
spf = "off"
dkim = "off"
dmarc = "off"
arc = "off"
iprev = "off"

[queued]
remote_port = %d
mta_sts = "off"
dkim_sign = %t
`, localDomain, dir, filepath.Join(dir, "run"), dnsAddr, max(100, cfg.Messages), g.smtpAddr, sinkPort, cfg.DKIM)
	if err := os.WriteFile(g.config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	userctl := filepath.Join(bin, "userctl")
	for _, step := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", localDomain}},
		{password + "\n", []string{"user", "add", "--password-stdin", localRcpt}},
		{"", []string{"dkim", "create", localDomain}},
	} {
		if err := benchutil.RunCmd(ctx, step.stdin, userctl, append([]string{"--config", g.config}, step.args...)...); err != nil {
			return nil, err
		}
	}
	g.st, err = sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "gannet.db"), ReadConnections: 1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	ok = true
	return g, nil
}

// start starts a daemon of the setup.
func (g *gannet) start(name string) (*benchutil.Daemon, error) {
	d, err := benchutil.StartDaemon(filepath.Join(g.bin, name), filepath.Join(g.dir, name+".log"), "--config", g.config)
	if err != nil {
		return nil, err
	}
	g.daemons = append(g.daemons, d)
	g.cfg.logf("%s started (pid %d)", name, d.Pid())
	return d, nil
}

// startSMTPD starts smtpd and waits for its port.
func (g *gannet) startSMTPD(ctx context.Context) (*benchutil.Daemon, error) {
	d, err := g.start("smtpd")
	if err != nil {
		return nil, err
	}
	if err := benchutil.WaitPort(ctx, g.smtpAddr, d.Exited()); err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	return d, nil
}

// logs is the tail of each daemon's log, for an error.
func (g *gannet) logs() string {
	var b strings.Builder
	for _, d := range g.daemons {
		fmt.Fprintf(&b, "\n%s log (%s):\n%s", d.Name, d.LogPath, d.LogTail(3000))
	}
	return b.String()
}

// stopAll stops the daemons, returning the first failure.
func (g *gannet) stopAll() error {
	var errs []error
	for _, d := range g.daemons {
		if err := d.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (g *gannet) close() {
	g.stopAll()
	if g.st != nil {
		g.st.Close()
	}
	os.RemoveAll(g.dir)
}

// activeEntries counts the queue entries not yet settled.
func (g *gannet) activeEntries(ctx context.Context) (int, error) {
	es, err := g.st.ListQueue(ctx, store.QueueFilter{Status: store.QueueActive})
	return len(es), err
}

// waitEmpty waits until the queue has no active entry (queued saved its
// last attempts) and says how long that took.
func (g *gannet) waitEmpty(ctx context.Context, queued *benchutil.Daemon) (time.Duration, error) {
	start := time.Now()
	for {
		n, err := g.activeEntries(ctx)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > checkTimeout {
			return 0, fmt.Errorf("queued: %d queue entries still active %v after the last delivery", n, checkTimeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-queued.Exited():
			return 0, fmt.Errorf("queued exited with %d queue entries active", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runGannet runs one case on Gannet.
func runGannet(ctx context.Context, cfg Config, t tools, bin, dnsAddr, c string, info *runInfo) (Result, error) {
	g, err := newGannet(ctx, cfg, bin, dnsAddr)
	if err != nil {
		return Result{}, err
	}
	defer g.close()
	var r Result
	switch c {
	case caseRemote, caseDrain:
		r, err = g.remote(ctx, t, c, info)
	case caseLocal:
		r, err = g.local(ctx)
	}
	if err != nil {
		g.stopAll()
		return Result{}, fmt.Errorf("%w%s", err, g.logs())
	}
	if err := g.stopAll(); err != nil {
		return Result{}, fmt.Errorf("%w%s", err, g.logs())
	}
	r.Case, r.Server, r.Messages = c, "gannet", cfg.Messages
	return r, nil
}

// remote runs a remote case: end to end with queued running while
// smtp-source sends, or a drain with queued started once smtpd has
// queued everything.
func (g *gannet) remote(ctx context.Context, t tools, c string, info *runInfo) (Result, error) {
	s, err := startSink(ctx, t.sink, net.JoinHostPort("127.0.0.1", strconv.Itoa(g.sinkPort)), "")
	if err != nil {
		return Result{}, err
	}
	defer s.Stop()
	smtpd, err := g.startSMTPD(ctx)
	if err != nil {
		return Result{}, err
	}
	var queued *benchutil.Daemon
	var r Result
	if c == caseRemote {
		if queued, err = g.start("queued"); err != nil {
			return Result{}, err
		}
	}
	start := time.Now()
	if err := source(ctx, g.cfg, t.source, remoteRcpt, g.smtpAddr); err != nil {
		return Result{}, err
	}
	r.Fill = time.Since(start)
	var smtpdRSS int64
	if c == caseDrain {
		// Everything is in the queue once smtp-source has its 250s.
		n, err := g.activeEntries(ctx)
		if err != nil {
			return Result{}, err
		}
		if n != g.cfg.Messages {
			return Result{}, fmt.Errorf("%d queue entries after smtp-source, want %d", n, g.cfg.Messages)
		}
		if err := smtpd.Stop(); err != nil {
			return Result{}, fmt.Errorf("stopping smtpd: %w", err)
		}
		start = time.Now()
		if queued, err = g.start("queued"); err != nil {
			return Result{}, err
		}
	}
	if _, err := waitCount(ctx, g.cfg.Messages, drainTimeout, s.Messages, queued.Exited(), "messages at smtp-sink"); err != nil {
		return Result{}, fmt.Errorf("queued: %w", err)
	}
	r.Elapsed = time.Since(start)
	r.CPU = benchutil.TreeCPU([]int{queued.Pid()})
	if c == caseRemote {
		r.CPU += benchutil.TreeCPU([]int{smtpd.Pid()})
		if smtpdRSS, err = benchutil.VmHWM(smtpd.Pid()); err != nil {
			return Result{}, fmt.Errorf("smtpd's peak RSS: %w", err)
		}
	}
	queuedRSS, err := benchutil.VmHWM(queued.Pid())
	if err != nil {
		return Result{}, fmt.Errorf("queued's peak RSS: %w", err)
	}
	r.PeakRSS = queuedRSS + smtpdRSS

	// After the clock: the queue empties (the last attempts are saved),
	// and one more message shows the DKIM signatures.
	settled, err := g.waitEmpty(ctx, queued)
	if err != nil {
		return Result{}, err
	}
	dkim, err := g.checkDKIM(ctx, t, queued)
	if err != nil {
		return Result{}, err
	}
	info.DKIM = dkim
	got, _ := s.Messages()
	if got != g.cfg.Messages {
		return Result{}, fmt.Errorf("smtp-sink received %d messages, %d were sent", got, g.cfg.Messages)
	}
	if c == caseRemote {
		r.Note = fmt.Sprintf("peak RSS is queued's VmHWM (%.1f MB) + smtpd's (%.1f MB)", float64(queuedRSS)/1e6, float64(smtpdRSS)/1e6)
	} else {
		r.Note = "peak RSS is queued's VmHWM; smtpd had stopped"
	}
	r.Note += fmt.Sprintf("; queue empty %v after the last arrival", settled.Round(time.Millisecond))
	return r, nil
}

// checkDKIM sends one message through queued to a sink that keeps it and
// describes the DKIM-Signature fields it has.
func (g *gannet) checkDKIM(ctx context.Context, t tools, queued *benchutil.Daemon) (string, error) {
	// smtp-sink writes as the postfix user, which cannot enter g.dir.
	dump, err := os.MkdirTemp("", "gannet-bench-dkim-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dump)
	if err := chownPostfix(dump); err != nil {
		return "", err
	}
	s, err := startSink(ctx, t.sink, net.JoinHostPort(checkAddr, strconv.Itoa(g.sinkPort)), dump)
	if err != nil {
		return "", err
	}
	defer s.Stop()
	if _, err := g.st.Enqueue(ctx, []store.NewQueueEntry{{
		Sender:     sender,
		Recipients: []store.QueueRecipient{{Address: checkRcpt}},
		Raw:        generate(0, checkRcpt, 1024),
	}}); err != nil {
		return "", err
	}
	// queued finds the entry at its next poll.
	if _, err := waitCount(ctx, 1, checkTimeout, func() (int, error) { return benchutil.CountDir(dump) }, queued.Exited(), "DKIM check messages at smtp-sink"); err != nil {
		return "", fmt.Errorf("queued: %w", err)
	}
	var raw []byte
	if _, err := waitCount(ctx, 1, checkTimeout, func() (int, error) {
		names, err := benchutil.ReadDirNames(dump)
		if err != nil || len(names) == 0 {
			return 0, err
		}
		// smtp-sink writes the file as the message comes; the blank
		// line after the body ends it.
		raw = benchutil.ReadFile(filepath.Join(dump, names[0]))
		return boolInt(bytes.HasSuffix(raw, []byte("\n\n"))), nil
	}, nil, "complete DKIM check messages"); err != nil {
		return "", err
	}
	return describeDKIM(raw), nil
}

// dkimTag finds the tags of a DKIM-Signature field that tell who signed
// and how.
var dkimTag = regexp.MustCompile(`(?:^|[;\s])(a|d|s|c)=([^;\s]+)`)

// describeDKIM describes the DKIM-Signature fields of a message:
// "2 signatures: a=rsa-sha256 d=example.test ...; a=ed25519-sha256 ...".
func describeDKIM(raw []byte) string {
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	head, _, _ := bytes.Cut(raw, []byte("\n\n"))
	var sigs []string
	var cur []string
	in := false
	flush := func() {
		if in {
			field := strings.Join(cur, " ")
			var tags []string
			for _, m := range dkimTag.FindAllStringSubmatch(field, -1) {
				tags = append(tags, m[1]+"="+m[2])
			}
			slices.Sort(tags)
			sigs = append(sigs, strings.Join(tags, " "))
		}
		in, cur = false, nil
	}
	for line := range strings.SplitSeq(string(head), "\n") {
		switch {
		case in && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
			cur = append(cur, line)
		case strings.HasPrefix(strings.ToLower(line), "dkim-signature:"):
			flush()
			in = true
			cur = []string{line[len("dkim-signature:"):]}
		default:
			flush()
		}
	}
	flush()
	if len(sigs) == 0 {
		return "not signed"
	}
	return fmt.Sprintf("%d signature(s): %s", len(sigs), strings.Join(sigs, "; "))
}

// local runs the local case: the queue is filled through the store, then
// queued delivers into the account's mailbox.
func (g *gannet) local(ctx context.Context) (Result, error) {
	var r Result
	start := time.Now()
	for i := 0; i < g.cfg.Messages; i += enqueueBatch {
		var batch []store.NewQueueEntry
		for j := i; j < min(i+enqueueBatch, g.cfg.Messages); j++ {
			batch = append(batch, store.NewQueueEntry{
				Sender:     sender,
				Recipients: []store.QueueRecipient{{Address: localRcpt}},
				Raw:        generate(j, localRcpt, g.cfg.Size),
			})
		}
		if _, err := g.st.Enqueue(ctx, batch); err != nil {
			return Result{}, err
		}
	}
	r.Fill = time.Since(start)
	acct, err := g.st.GetAccount(ctx, localRcpt)
	if err != nil {
		return Result{}, err
	}
	inbox, err := g.st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		return Result{}, err
	}
	count := func() (int, error) {
		s, err := g.st.MailboxStatus(ctx, acct.ID, inbox.ID)
		return int(s.Messages), err
	}
	start = time.Now()
	queued, err := g.start("queued")
	if err != nil {
		return Result{}, err
	}
	if _, err := waitCount(ctx, g.cfg.Messages, drainTimeout, count, queued.Exited(), "messages in the mailbox"); err != nil {
		return Result{}, fmt.Errorf("queued: %w", err)
	}
	r.Elapsed = time.Since(start)
	r.CPU = benchutil.TreeCPU([]int{queued.Pid()})
	if r.PeakRSS, err = benchutil.VmHWM(queued.Pid()); err != nil {
		return Result{}, fmt.Errorf("queued's peak RSS: %w", err)
	}
	settled, err := g.waitEmpty(ctx, queued)
	if err != nil {
		return Result{}, err
	}
	if n, err := count(); err != nil || n != g.cfg.Messages {
		return Result{}, fmt.Errorf("the mailbox holds %d messages (%v), %d were queued", n, err, g.cfg.Messages)
	}
	r.Note = fmt.Sprintf("queue filled through the store's Enqueue (%d a call); peak RSS is queued's VmHWM; queue empty %v after the last arrival",
		enqueueBatch, settled.Round(time.Millisecond))
	return r, nil
}

// generate returns message i to rcpt with size bytes of body, laid out
// as smtp-source lays out its messages.
func generate(i int, rcpt string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-Id: <%d.bench@%s>\r\n\r\n",
		sender, rcpt, time.Now().Format(time.RFC1123Z), i, localDomain)
	line := 1
	for size > 0 {
		n := min(size, 80)
		fmt.Fprintf(&b, "%d", line%10)
		b.WriteString(strings.Repeat("X", max(n-1, 0)))
		b.WriteString("\r\n")
		size -= n
		line++
	}
	return b.Bytes()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// chownPostfix gives path to the postfix user, as whom smtp-sink writes.
func chownPostfix(path string) error {
	u, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("the postfix user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("the postfix user: %w", err)
	}
	return os.Chown(path, uid, gid)
}

// ---------------------------------------------------------------------------
// Postfix.

// runPostfix runs one case on a private Postfix.
func runPostfix(ctx context.Context, cfg Config, t tools, c string) (Result, error) {
	params := map[string]string{}
	var s *sink
	var mail string
	if c == caseLocal {
		base, err := os.MkdirTemp("", "gannet-bench-postfix-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(base)
		// virtual(8) writes as the postfix user, through base.
		if err := os.Chmod(base, 0o755); err != nil {
			return Result{}, err
		}
		mail = filepath.Join(base, "mail")
		if err := os.Mkdir(mail, 0o755); err != nil {
			return Result{}, err
		}
		if err := chownPostfix(mail); err != nil {
			return Result{}, err
		}
		vmailbox := filepath.Join(base, "vmailbox")
		if err := os.WriteFile(vmailbox, []byte(localRcpt+" demo/\n"), 0o644); err != nil {
			return Result{}, err
		}
		u, err := user.Lookup("postfix")
		if err != nil {
			return Result{}, err
		}
		params["virtual_mailbox_domains"] = localDomain
		params["virtual_mailbox_base"] = mail
		params["virtual_mailbox_maps"] = "texthash:" + vmailbox
		params["virtual_uid_maps"] = "static:" + u.Uid
		params["virtual_gid_maps"] = "static:" + u.Gid
	} else {
		port, err := postfixtest.FreePort()
		if err != nil {
			return Result{}, err
		}
		if s, err = startSink(ctx, t.sink, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), ""); err != nil {
			return Result{}, err
		}
		defer s.Stop()
		params["relay_domains"] = remoteDomain
		params["relay_transport"] = fmt.Sprintf("relay:[127.0.0.1]:%d", port)
	}
	if c != caseRemote {
		// Every message goes to the hold queue: nothing is delivered
		// until it is released.
		params["smtpd_data_restrictions"] = "check_client_access static:HOLD"
	}
	in, err := postfixtest.Start(ctx, postfixtest.Options{Main: params, Logf: cfg.logf})
	if err != nil {
		return Result{}, err
	}
	defer in.Stop()
	fail := func(err error) (Result, error) {
		return Result{}, fmt.Errorf("%w\npostfix log:\n%s", err, benchutil.Tail([]byte(in.Log()), 3000))
	}

	rcpt, count := remoteRcpt, func() (int, error) { return s.Messages() }
	if c == caseLocal {
		newDir := filepath.Join(mail, "demo", "new")
		rcpt, count = localRcpt, func() (int, error) { return benchutil.CountDir(newDir) }
	}
	r := Result{Case: c, Server: "postfix", Messages: cfg.Messages}
	var stopSampling func() benchutil.Peak
	if c == caseRemote {
		stopSampling = benchutil.SamplePeak(ctx, in.PIDs, sampleEvery)
	}
	start := time.Now()
	if err := source(ctx, cfg, t.source, rcpt, in.Addr); err != nil {
		if stopSampling != nil {
			stopSampling()
		}
		return fail(err)
	}
	r.Fill = time.Since(start)
	if c != caseRemote {
		hold := filepath.Join(in.QueueDir, "hold")
		if _, err := waitCount(ctx, cfg.Messages, checkTimeout, func() (int, error) { return benchutil.CountDir(hold) }, nil, "messages on hold"); err != nil {
			return fail(err)
		}
		// A fresh start, as queued's: the smtpd processes that received
		// go, and the peaks are of the delivery alone.
		if err := restart(ctx, in); err != nil {
			return fail(err)
		}
		stopSampling = benchutil.SamplePeak(ctx, in.PIDs, sampleEvery)
		start = time.Now()
		// postsuper -H moves the messages to the deferred queue;
		// postqueue -f has the queue manager take them at once.
		if err := benchutil.RunCmd(ctx, "", t.postsuper, "-c", in.ConfigDir, "-H", "ALL"); err != nil {
			stopSampling()
			return fail(err)
		}
		if err := benchutil.RunCmd(ctx, "", t.postqueue, "-c", in.ConfigDir, "-f"); err != nil {
			stopSampling()
			return fail(err)
		}
	}
	_, err = waitCount(ctx, cfg.Messages, drainTimeout, count, nil, "messages delivered")
	r.Elapsed = time.Since(start)
	r.CPU = benchutil.TreeCPU(in.PIDs())
	p := stopSampling()
	if err != nil {
		return fail(err)
	}
	if got, err := count(); err != nil || got != cfg.Messages {
		return fail(fmt.Errorf("%d messages delivered (%v), %d were sent", got, err, cfg.Messages))
	}
	r.PeakRSS = p.Sum
	r.Note = fmt.Sprintf("peak RSS is a sum of peaks, VmHWM of the %d processes alive at the sample (every %v) where the sum was largest"+
		" (shared pages count in each; their Pss then summed to %.1f MB)", p.Procs, sampleEvery, float64(p.Pss)/1e6)
	if c != caseRemote {
		r.Note = "queue filled through smtpd into the hold queue, then Postfix restarted and the mail released; " + r.Note
	}
	if err := in.Stop(); err != nil {
		return Result{}, err
	}
	return r, nil
}

// restart stops the instance's master and starts it again.
func restart(ctx context.Context, in *postfixtest.Instance) error {
	postfix, err := postfixtest.Postfix()
	if err != nil {
		return err
	}
	if err := benchutil.RunCmd(ctx, "", postfix, "-c", in.ConfigDir, "stop"); err != nil {
		return err
	}
	if _, err := waitCount(ctx, 1, postfixtest.StopTimeout, func() (int, error) {
		return boolInt(len(in.PIDs()) == 0), nil
	}, nil, "stopped Postfix"); err != nil {
		return err
	}
	if err := benchutil.RunCmd(ctx, "", postfix, "-c", in.ConfigDir, "start"); err != nil {
		return err
	}
	return benchutil.WaitPort(ctx, in.Addr, nil)
}
