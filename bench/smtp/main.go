// Command smtp measures receiving mail end to end: Postfix's smtp-source
// sends N messages of S bytes over W parallel sessions to Gannet's smtpd
// (port 25 role, every check of issue 3 strict: SPF, DKIM, DMARC, ARC,
// iprev, with DNS answered by lib/dnstest on loopback) and, in the same
// run, to a private Postfix (lib/postfixtest) delivering into a maildir
// with virtual(8). The clock runs from the start of smtp-source until the
// last message is in the mailbox (Gannet's store, Postfix's maildir new/).
// It prints both rates, their ratio and peak resident memory.
//
//	go run ./bench/smtp [-n 2000] [-size 10240] [-sessions 20] [-only gannet|postfix] [-reuse] [-bin DIR] [-v]
//
// It needs root and Postfix's smtp-source (Debian package postfix, which
// lib/postfixtest installs when missing). It fails only when a run cannot
// be carried out: the figures are reported, never judged.
package main

import (
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
	"strconv"
	"strings"
	"time"

	"gannet/bench/internal/benchutil"
	"gannet/lib/dnstest"
	"gannet/lib/postfixtest"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

// The names of the run: mail from sender@senderDomain, sent from
// 127.0.0.1 (whose PTR is clientName), to rcpt.
const (
	localDomain  = "example.test"
	rcpt         = "demo@example.test"
	senderDomain = "sender.test"
	sender       = "sender@" + senderDomain
	clientName   = "mail." + senderDomain
	password     = "bench-password-not-secret"
)

// How long the mailbox may take to fill once smtp-source is done, how
// often it is looked at, and how often Postfix's memory is sampled.
const (
	drainTimeout = 5 * time.Minute
	pollEvery    = 5 * time.Millisecond
	sampleEvery  = 100 * time.Millisecond
)

// Config is one benchmark run.
type Config struct {
	Messages int    // messages smtp-source sends
	Size     int    // payload bytes of each (smtp-source -l)
	Sessions int    // parallel SMTP sessions (smtp-source -s)
	Only     string // "gannet", "postfix" or "" for both
	Reuse    bool   // send every message of a session over one connection (smtp-source -d)
	Bin      string // directory with smtpd and userctl ("" builds them)
	Verbose  bool   // tell what is happening on stderr
}

// Result is what one server did.
type Result struct {
	Server   string
	Messages int
	// Elapsed runs from the start of smtp-source until the last message
	// is in the mailbox; Source until smtp-source exited.
	Elapsed time.Duration
	Source  time.Duration
	// PeakRSS is in bytes: smtpd's VmHWM for Gannet; for Postfix the
	// largest sum, over the samples taken, of the VmHWM of every process
	// of the instance alive at that moment (a sum of per-process peaks).
	PeakRSS int64
	// Procs is how many processes PeakRSS covers.
	Procs int
	// Note describes the result (checks passed, what the RSS is).
	Note string
}

// PerSecond is messages in the mailbox per second of wall time.
func (r Result) PerSecond() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

func main() {
	var cfg Config
	flag.IntVar(&cfg.Messages, "n", 2000, "messages to send")
	flag.IntVar(&cfg.Size, "size", 10*1024, "payload bytes per message (smtp-source -l)")
	flag.IntVar(&cfg.Sessions, "sessions", 20, "parallel SMTP sessions (smtp-source -s)")
	flag.StringVar(&cfg.Only, "only", "", `run one server only: "gannet" or "postfix"`)
	flag.BoolVar(&cfg.Reuse, "reuse", false, "send all of a session's messages over one connection (smtp-source -d)")
	flag.StringVar(&cfg.Bin, "bin", "", "directory holding smtpd and userctl (default: build them into a temporary directory)")
	flag.BoolVar(&cfg.Verbose, "v", false, "say what is happening")
	flag.Parse()
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "smtp:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	results, err := Run(ctx, cfg)
	Print(os.Stdout, cfg, results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtp:", err)
		os.Exit(1)
	}
}

func (cfg Config) validate() error {
	return benchutil.CheckLoad(cfg.Messages, cfg.Size, cfg.Sessions, cfg.Only)
}

func (cfg Config) logf(format string, args ...any) {
	if cfg.Verbose {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

// Run runs the benchmark on each server cfg asks for, Gannet first. It
// returns the results it has, with an error when a run failed.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (a private Postfix instance; smtp-source comes with Postfix)")
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err := postfixtest.Install(ictx, cfg.logf)
	cancel()
	if err != nil {
		return nil, err
	}
	source, err := postfixtest.SMTPSource()
	if err != nil {
		return nil, err
	}
	var results []Result
	if cfg.Only != "postfix" {
		r, err := runGannet(ctx, cfg, source)
		if err != nil {
			return results, fmt.Errorf("gannet: %w", err)
		}
		results = append(results, r)
	}
	if cfg.Only != "gannet" {
		r, err := runPostfix(ctx, cfg, source)
		if err != nil {
			return results, fmt.Errorf("postfix: %w", err)
		}
		results = append(results, r)
	}
	return results, nil
}

// Print writes the figures as a small table.
func Print(w io.Writer, cfg Config, results []Result) {
	if len(results) == 0 {
		return
	}
	conn := "a new connection per message"
	if cfg.Reuse {
		conn = "connections reused"
	}
	fmt.Fprintf(w, "smtp: smtp-source, %d messages of %d bytes, %d sessions, %s; end to end into a mailbox\n",
		cfg.Messages, cfg.Size, cfg.Sessions, conn)
	fmt.Fprintf(w, "  %-8s %9s %9s %10s %10s\n", "server", "msg/s", "elapsed", "sent in", "peak RSS")
	for _, r := range results {
		fmt.Fprintf(w, "  %-8s %9.0f %9s %10s %8.1f MB\n", r.Server, r.PerSecond(),
			r.Elapsed.Round(time.Millisecond), r.Source.Round(time.Millisecond), float64(r.PeakRSS)/1e6)
	}
	for _, r := range results {
		fmt.Fprintf(w, "  %s: %s\n", r.Server, r.Note)
	}
	if len(results) == 2 {
		fmt.Fprintf(w, "  ratio gannet/postfix: %.2f (msg/s), %.2f (peak RSS)\n",
			results[0].PerSecond()/results[1].PerSecond(), float64(results[0].PeakRSS)/float64(results[1].PeakRSS))
	}
}

// sourceArgs are smtp-source's arguments for sending to addr.
func sourceArgs(cfg Config, addr string) []string {
	args := []string{
		"-s", strconv.Itoa(cfg.Sessions),
		"-m", strconv.Itoa(cfg.Messages),
		"-l", strconv.Itoa(cfg.Size),
		"-M", clientName, // the HELO name
		"-f", sender, "-t", rcpt,
	}
	if cfg.Reuse {
		args = append(args, "-d")
	}
	return append(args, addr)
}

// send runs smtp-source against addr, then polls count until it reaches
// cfg.Messages. It returns the time until smtp-source exited and until
// the count was reached, both from smtp-source's start.
func send(ctx context.Context, cfg Config, source, addr string, count func() (int, error)) (sent, done time.Duration, err error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, source, sourceArgs(cfg, addr)...)
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	cfg.logf("running %s", strings.Join(cmd.Args, " "))
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("smtp-source: %w\n%s", err, benchutil.Tail(stderr.Bytes(), 2000))
	}
	sent = time.Since(start)
	deadline := time.Now().Add(drainTimeout)
	for {
		n, err := count()
		if err != nil {
			return sent, 0, err
		}
		if n >= cfg.Messages {
			done = time.Since(start)
			if n > cfg.Messages {
				return sent, done, fmt.Errorf("the mailbox holds %d messages, %d were sent", n, cfg.Messages)
			}
			return sent, done, nil
		}
		if time.Now().After(deadline) {
			return sent, 0, fmt.Errorf("only %d of %d messages in the mailbox %v after smtp-source ended", n, cfg.Messages, drainTimeout)
		}
		select {
		case <-ctx.Done():
			return sent, 0, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// runGannet starts smtpd with every check strict and measures it.
func runGannet(ctx context.Context, cfg Config, source string) (Result, error) {
	dir, err := os.MkdirTemp("", "gannet-bench-smtp-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	bin := cfg.Bin
	if bin == "" {
		bin = filepath.Join(dir, "bin")
		cfg.logf("building smtpd and userctl into %s", bin)
		if err := benchutil.Build(ctx, bin, "./cmd/smtpd", "./cmd/userctl"); err != nil {
			return Result{}, err
		}
	}
	dns, err := dnstest.Start()
	if err != nil {
		return Result{}, err
	}
	defer dns.Close()
	// SPF passes for 127.0.0.1, DMARC (p=reject) passes through SPF
	// alignment (smtp-source writes From: <sender>), DKIM and ARC find no
	// signature (none), iprev finds the PTR name and its A record.
	if err := dns.AddRecords(
		senderDomain+`. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.`+senderDomain+`. 300 IN TXT "v=DMARC1; p=reject; adkim=r; aspf=r"`,
		clientName+`. 300 IN A 127.0.0.1`,
		clientName+`. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`1.0.0.127.in-addr.arpa. 300 IN PTR `+clientName+`.`,
		// Mail from the local domain is judged the same way.
		localDomain+`. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.`+localDomain+`. 300 IN TXT "v=DMARC1; p=reject"`,
	); err != nil {
		return Result{}, err
	}

	port, err := postfixtest.FreePort()
	if err != nil {
		return Result{}, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	config := filepath.Join(dir, "gannet.toml")
	db := filepath.Join(dir, "gannet.db")
	// A session may carry all of its share of the messages (-reuse makes
	// smtp-source send them over one connection; Postfix has no such
	// limit).
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
relay_networks = []
max_messages_per_session = %d

[[smtpd.listener]]
name = "smtp"
address = %q

[smtpd.checks]
spf = "strict"
dkim = "strict"
dmarc = "strict"
arc = "strict"
iprev = "strict"
dmarc_enforce_reject = true
`, localDomain, dir, filepath.Join(dir, "run"), dns.Addr(), max(100, cfg.Messages), addr)
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		return Result{}, err
	}
	userctl := filepath.Join(bin, "userctl")
	if err := benchutil.RunCmd(ctx, "", userctl, "--config", config, "domain", "add", localDomain); err != nil {
		return Result{}, err
	}
	if err := benchutil.RunCmd(ctx, password+"\n", userctl, "--config", config, "user", "add", "--password-stdin", rcpt); err != nil {
		return Result{}, err
	}

	smtpd, err := benchutil.StartDaemon(filepath.Join(bin, "smtpd"), filepath.Join(dir, "smtpd.log"), "--config", config)
	if err != nil {
		return Result{}, err
	}
	defer smtpd.Stop()
	fail := func(err error) (Result, error) {
		smtpd.Stop()
		return Result{}, fmt.Errorf("%w\nsmtpd log (%s):\n%s", err, smtpd.LogPath, smtpd.LogTail(3000))
	}
	if err := benchutil.WaitPort(ctx, addr, smtpd.Exited()); err != nil {
		return fail(fmt.Errorf("smtpd: %w", err))
	}
	cfg.logf("smtpd (pid %d) listening on %s, DNS on %s", smtpd.Pid(), addr, dns.Addr())

	st, err := sqlite.Open(ctx, sqlite.Options{Path: db, ReadConnections: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	acct, err := st.GetAccount(ctx, rcpt)
	if err != nil {
		return fail(err)
	}
	inbox, err := st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		return fail(err)
	}
	count := func() (int, error) {
		s, err := st.MailboxStatus(ctx, acct.ID, inbox.ID)
		return int(s.Messages), err
	}
	sent, elapsed, err := send(ctx, cfg, source, addr, count)
	if err != nil {
		return fail(err)
	}
	hwm, err := benchutil.VmHWM(smtpd.Pid())
	if err != nil {
		return fail(fmt.Errorf("smtpd's peak RSS: %w", err))
	}

	// What the checks found, from the Authentication-Results header of
	// the last message.
	note := "peak RSS is smtpd's VmHWM (one process)"
	msgs, err := st.ListMessages(ctx, acct.ID, store.MessageFilter{MailboxID: inbox.ID})
	if err != nil || len(msgs) == 0 {
		return fail(fmt.Errorf("listing the delivered messages: %v (%d)", err, len(msgs)))
	}
	raw, err := st.ReadBlob(ctx, msgs[len(msgs)-1].BlobID, 0, 16<<10)
	if err != nil {
		return fail(err)
	}
	ar := authResults(raw)
	if ar == "" {
		return fail(errors.New("the delivered message has no Authentication-Results header: the checks did not run"))
	}
	note += "; checks: " + ar
	if err := smtpd.Stop(); err != nil {
		return Result{}, fmt.Errorf("stopping smtpd: %w\n%s", err, smtpd.LogTail(3000))
	}
	return Result{Server: "gannet", Messages: cfg.Messages, Elapsed: elapsed, Source: sent, PeakRSS: hwm, Procs: 1, Note: note}, nil
}

// authResults returns the results of the message's Authentication-Results
// header ("spf=pass dkim=none ..."), or "" when it has none.
func authResults(raw []byte) string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	var field []string
	in := false
	for line := range strings.SplitSeq(string(head), "\r\n") {
		switch {
		case in && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
			field = append(field, line)
		case in:
			in = false
		case strings.HasPrefix(strings.ToLower(line), "authentication-results:"):
			in = true
			field = append(field, line)
		}
		if !in && field != nil {
			break
		}
	}
	var out []string
	for _, m := range methodResult.FindAllStringSubmatch(strings.Join(field, " "), -1) {
		out = append(out, m[1]+"="+m[2])
	}
	return strings.Join(out, " ")
}

var methodResult = regexp.MustCompile(`(?i)\b(spf|dkim|dmarc|arc|iprev)=([a-z]+)`)

// runPostfix starts a private Postfix delivering into a maildir and
// measures it.
func runPostfix(ctx context.Context, cfg Config, source string) (Result, error) {
	u, err := user.Lookup("postfix")
	if err != nil {
		return Result{}, fmt.Errorf("the postfix user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return Result{}, fmt.Errorf("the postfix user: %w", err)
	}
	base, err := os.MkdirTemp("", "gannet-bench-postfix-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(base)
	// virtual(8) writes as the postfix user, through base.
	if err := os.Chmod(base, 0o755); err != nil {
		return Result{}, err
	}
	mail := filepath.Join(base, "mail")
	if err := os.Mkdir(mail, 0o755); err != nil {
		return Result{}, err
	}
	if err := os.Chown(mail, uid, gid); err != nil {
		return Result{}, err
	}
	vmailbox := filepath.Join(base, "vmailbox")
	if err := os.WriteFile(vmailbox, []byte(rcpt+" demo/\n"), 0o644); err != nil {
		return Result{}, err
	}
	in, err := postfixtest.Start(ctx, postfixtest.Options{
		Main: map[string]string{
			"virtual_mailbox_domains": localDomain,
			"virtual_mailbox_base":    mail,
			"virtual_mailbox_maps":    "texthash:" + vmailbox,
			"virtual_uid_maps":        "static:" + u.Uid,
			"virtual_gid_maps":        "static:" + u.Gid,
		},
		Logf: cfg.logf,
	})
	if err != nil {
		return Result{}, err
	}
	defer in.Stop()
	fail := func(err error) (Result, error) {
		return Result{}, fmt.Errorf("%w\npostfix log:\n%s", err, benchutil.Tail([]byte(in.Log()), 3000))
	}

	// Postfix's processes come and go (smtpd per connection, up to
	// max_use): sample the sum of their peaks while it works.
	stopSampling := benchutil.SamplePeak(ctx, in.PIDs, sampleEvery)

	newDir := filepath.Join(mail, "demo", "new")
	count := func() (int, error) { return benchutil.CountDir(newDir) }
	sent, elapsed, err := send(ctx, cfg, source, in.Addr, count)
	p := stopSampling()
	if err != nil {
		return fail(err)
	}
	note := fmt.Sprintf("peak RSS is a sum of peaks, VmHWM of the %d processes alive at the sample (every %v) where the sum was largest"+
		" (shared pages count in each; their Pss then summed to %.1f MB); no SPF/DKIM/DMARC/ARC/iprev checks", p.Procs, sampleEvery, float64(p.Pss)/1e6)
	if err := in.Stop(); err != nil {
		return Result{}, err
	}
	return Result{Server: "postfix", Messages: cfg.Messages, Elapsed: elapsed, Source: sent, PeakRSS: p.Sum, Procs: p.Procs, Note: note}, nil
}
