// Command imap measures Gannet's imapd next to a private Dovecot 2.3 on
// the same work, in one run, both over implicit TLS on loopback:
//
//   - mailbox: a mailbox of N messages of 2 to 4 KB (multipart/alternative
//     with the headers of delivered mail, one in 20 unseen); a new
//     connection times SELECT and then a full
//     `UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)`, three
//     times (Dovecot builds its index and cache on the first), and the
//     server's peak memory.
//   - append: C clients, each on its own connection, APPEND 10 KB messages
//     (each unique) to one mailbox, one at a time, for D seconds: msg/s.
//   - fetch: C clients each SELECT the big mailbox, then FETCH the
//     BODY[] of a random message, one at a time, for D seconds: FETCH/s
//     (BODY[] sets \Seen on the unseen twentieth).
//   - idle: I connections log in, SELECT a mailbox of 100 messages and
//     IDLE; the server's resident memory before, at I/2 and at I
//     connections, per connection.
//   - qresync: after 100 changes to the big mailbox (50 flag changes, 50
//     expunges) a SELECT with QRESYNC (RFC 7162) from the modification
//     sequence before them: time and responses. Run only against a server
//     that announces QRESYNC; otherwise "QRESYNC: not yet".
//
// The big mailbox reaches imapd through the store (AddMessages, parsed as
// at delivery, then text-indexed as imapd would in the background) and
// Dovecot as maildir files (named with their sizes, as
// Dovecot names what it saves), before either server starts. The client
// is a bare one (client.go) that reads response lines and skips literals,
// so that its own cost stays small next to the server's; it runs in this
// process on the same machine. Besides rates it prints the processor time
// the server used per operation (user and system, Dovecot's processes
// summed), which other work on the machine disturbs less than wall time.
//
// Gannet's imapd runs as one process (restarted before each phase, so
// that its peak RSS, VmHWM, is the phase's own); Dovecot runs with its
// defaults (a login process per connection that proxies TLS, an imap
// process per session), so its memory is given as the sum of Pss over
// its processes.
//
//	go run ./bench/imap [-n 50000] [-clients 10] [-duration 20s] [-idle 1000] [-only LIST] [-bin DIR] [-profile DIR] [-v]
//
// -only takes a comma-separated list of servers (gannet, dovecot) and
// phases (mailbox, append, fetch, idle, qresync). -profile runs Gannet's
// IMAP server inside this program instead of imapd and writes pprof
// profiles of each phase (profile.go). It needs root (Dovecot
// runs as root with the mail owned by nobody; the file limit is raised
// for the IDLE connections) and Debian's dovecot-imapd, which it installs
// when missing. It fails only when a run cannot be carried out: the
// figures are reported, never judged.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The servers and phases, in the order they run.
var (
	serverNames = []string{"gannet", "dovecot"}
	phaseNames  = []string{"mailbox", "append", "fetch", "idle", "qresync"}
)

// Fixed parts of the work.
const (
	mailboxRuns = 3
	appendSize  = 10 * 1024
	// appendTemplates is how many distinct 10 KB bodies each APPEND client
	// cycles through (a unique header line goes in front of each).
	appendTemplates = 16
	// qresyncFlags and qresyncExpunges make the 100 changes.
	qresyncFlags    = 50
	qresyncExpunges = 50
	// idleDialers is how many IDLE connections are opened at once.
	idleDialers = 16
	// sampleEvery is how often Dovecot's memory is sampled.
	sampleEvery = 100 * time.Millisecond
	// settleMax bounds the wait for resident memory to stop moving.
	settleMax = 15 * time.Second
)

// fetchItems is what the mailbox phase fetches of every message.
const fetchItems = "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"

// Config is one benchmark run.
type Config struct {
	Messages int           // messages in the big mailbox
	Clients  int           // concurrent clients of the append and fetch phases
	Duration time.Duration // length of the append and fetch phases
	Idle     int           // IDLE connections
	Only     string        // servers and phases to run, comma-separated ("" for all)
	Bin      string        // directory with imapd and userctl ("" builds them)
	Profile  string        // run Gannet in this process and write profiles here (profile.go)
	Verbose  bool          // tell what is happening on stderr

	servers, phases map[string]bool
}

func main() {
	var cfg Config
	flag.IntVar(&cfg.Messages, "n", 50000, "messages in the big mailbox")
	flag.IntVar(&cfg.Clients, "clients", 10, "concurrent clients of the append and fetch loads")
	flag.DurationVar(&cfg.Duration, "duration", 20*time.Second, "length of the append and fetch loads")
	flag.IntVar(&cfg.Idle, "idle", 1000, "concurrent IDLE connections")
	flag.StringVar(&cfg.Only, "only", "", "comma-separated servers (gannet, dovecot) and phases (mailbox, append, fetch, idle, qresync) to run")
	flag.StringVar(&cfg.Bin, "bin", "", "directory holding imapd and userctl (default: build them into a temporary directory)")
	flag.StringVar(&cfg.Profile, "profile", "", "run Gannet's IMAP server in this process and write pprof profiles of each phase into `DIR` (figures then include the client)")
	flag.BoolVar(&cfg.Verbose, "v", false, "say what is happening")
	flag.Parse()
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "imap:", err)
		os.Exit(2)
	}
	if cfg.Profile != "" {
		runtime.MemProfileRate = profileMemRate
	}
	results, err := Run(context.Background(), cfg)
	Print(os.Stdout, cfg, results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imap:", err)
		os.Exit(1)
	}
}

func (cfg *Config) validate() error {
	switch {
	case cfg.Messages < 1 || cfg.Messages > 1_000_000:
		return fmt.Errorf("-n %d: want 1 to 1000000", cfg.Messages)
	case cfg.Clients < 1 || cfg.Clients > 1000:
		return fmt.Errorf("-clients %d: want 1 to 1000", cfg.Clients)
	case cfg.Duration < 100*time.Millisecond || cfg.Duration > time.Hour:
		return fmt.Errorf("-duration %v: want 100ms to 1h", cfg.Duration)
	case cfg.Idle < 2 || cfg.Idle > 20000:
		return fmt.Errorf("-idle %d: want 2 to 20000", cfg.Idle)
	}
	cfg.servers, cfg.phases = map[string]bool{}, map[string]bool{}
	for name := range strings.SplitSeq(cfg.Only, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
		case slices.Contains(serverNames, name):
			cfg.servers[name] = true
		case slices.Contains(phaseNames, name):
			cfg.phases[name] = true
		default:
			return fmt.Errorf("-only %q: want servers (%s) and phases (%s)", name,
				strings.Join(serverNames, ", "), strings.Join(phaseNames, ", "))
		}
	}
	if len(cfg.servers) == 0 {
		for _, s := range serverNames {
			cfg.servers[s] = true
		}
	}
	if len(cfg.phases) == 0 {
		for _, p := range phaseNames {
			cfg.phases[p] = true
		}
	}
	return nil
}

func (cfg Config) logf(format string, args ...any) {
	if cfg.Verbose {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

// needsBig reports whether a phase of the run reads the big mailbox.
func (cfg Config) needsBig() bool {
	return cfg.phases["mailbox"] || cfg.phases["fetch"] || cfg.phases["qresync"]
}

// Result is what one server did; a nil phase did not run.
type Result struct {
	Server string
	// AvgSize is the average size of the big mailbox's messages, bytes.
	AvgSize float64
	Mailbox *MailboxResult
	Append  *LoadResult
	Fetch   *LoadResult
	Idle    *IdleResult
	Qresync *QresyncResult
}

// MailboxRun is one SELECT and full UID FETCH on a new connection.
type MailboxRun struct {
	Select, Fetch time.Duration
	// FetchCPU is the server's processor time during the FETCH, which
	// other work on the machine disturbs less than Fetch.
	FetchCPU time.Duration
	Exists   int   // EXISTS in the SELECT response
	Fetched  int   // FETCH responses
	Bytes    int64 // bytes of the FETCH responses
}

// MailboxResult is the mailbox phase.
type MailboxResult struct {
	Runs []MailboxRun
	Peak int64 // bytes: imapd's VmHWM; Dovecot's largest Pss sum sampled
}

// best returns the run with the shortest FETCH among the runs after the
// first (the first when there is only one).
func (m *MailboxResult) best() MailboxRun {
	if len(m.Runs) == 1 {
		return m.Runs[0]
	}
	b := m.Runs[1]
	for _, r := range m.Runs[2:] {
		if r.Fetch < b.Fetch {
			b = r
		}
	}
	return b
}

// LoadResult is a load of concurrent clients (append, fetch).
type LoadResult struct {
	Ops     int           // commands completed with OK
	Failed  int           // commands answered NO or BAD, or wrong
	Elapsed time.Duration // from the start until every client's last command ended
	CPU     time.Duration // the server's processor time meanwhile
	Peak    int64         // as MailboxResult.Peak
	Note    string        // the first failure, if any
}

// PerSecond is OK commands per second.
func (r *LoadResult) PerSecond() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// CPUPerOp is the server's processor time per OK command.
func (r *LoadResult) CPUPerOp() time.Duration {
	if r.Ops == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Ops)
}

// IdleResult is the IDLE phase: resident memory (imapd's VmRSS, Dovecot's
// Pss sum) before any connection, with half of them and with all.
type IdleResult struct {
	Conns             int
	Before, Half, All int64
	// IdleCPU is the server's processor time per second with every
	// connection idling.
	IdleCPU time.Duration
}

// PerConn is the resident memory per connection, all of them against none.
func (r *IdleResult) PerConn() float64 { return float64(r.All-r.Before) / float64(r.Conns) }

// Marginal is the resident memory per connection of the second half.
func (r *IdleResult) Marginal() float64 {
	return float64(r.All-r.Half) / float64(r.Conns-r.Conns/2)
}

// QresyncResult is the QRESYNC phase.
type QresyncResult struct {
	Supported bool
	Select    time.Duration // SELECT with QRESYNC after the changes
	Fetches   int           // FETCH responses to it
	Vanished  int           // UIDs its VANISHED (EARLIER) named
	Changes   time.Duration // time the 100 changes took
}

// Run runs the phases cfg asks for on each server, Gannet first. It
// returns the results it has, with an error when a run failed.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (a private Dovecot instance runs as root; the file limit is raised)")
	}
	if err := raiseFileLimit(4*cfg.Idle + 1024); err != nil {
		return nil, err
	}
	var big []mail
	if cfg.needsBig() {
		start := time.Now()
		big = generateMailbox(cfg.Messages)
		cfg.logf("generated %d messages in %v", len(big), time.Since(start).Round(time.Millisecond))
	}
	idle := generateMailbox(idleMessages)
	var results []Result
	for _, name := range serverNames {
		if !cfg.servers[name] {
			continue
		}
		r, err := runServer(ctx, cfg, name, big, idle)
		results = append(results, r)
		if err != nil {
			return results, fmt.Errorf("%s: %w", name, err)
		}
	}
	return results, nil
}

// raiseFileLimit raises RLIMIT_NOFILE to at least n (soft and hard); the
// servers started afterwards inherit it.
func raiseFileLimit(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	want := uint64(n)
	if lim.Cur >= want && lim.Max >= want {
		return nil
	}
	lim.Cur = max(lim.Cur, want)
	lim.Max = max(lim.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE to %d: %w", n, err)
	}
	return nil
}

// runServer starts one server and runs the phases on it.
func runServer(ctx context.Context, cfg Config, name string, big, idle []mail) (Result, error) {
	res := Result{Server: name}
	if len(big) > 0 {
		var total int
		for _, m := range big {
			total += len(m.raw)
		}
		res.AvgSize = float64(total) / float64(len(big))
	}
	var srv server
	var err error
	start := time.Now()
	switch name {
	case "gannet":
		srv, err = startGannet(ctx, cfg, big, idle)
	case "dovecot":
		srv, err = startDovecot(ctx, cfg, big, idle)
	}
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	cfg.logf("%s: ready on %s after %v", name, srv.Addr(), time.Since(start).Round(time.Millisecond))
	// Each phase but qresync starts on a fresh server (imapd restarted);
	// with -profile each runs under the profiler.
	phases := []struct {
		name  string
		fresh bool
		run   func(prof *profiler) error
	}{
		{"mailbox", true, func(*profiler) (err error) { res.Mailbox, err = runMailbox(ctx, srv); return }},
		{"append", true, func(*profiler) (err error) { res.Append, err = runAppend(ctx, cfg, srv); return }},
		{"fetch", true, func(*profiler) (err error) { res.Fetch, err = runFetch(ctx, cfg, srv); return }},
		{"idle", true, func(p *profiler) (err error) { res.Idle, err = runIdle(ctx, cfg, srv, p); return }},
		{"qresync", false, func(*profiler) (err error) { res.Qresync, err = runQresync(ctx, srv); return }},
	}
	for _, p := range phases {
		if !cfg.phases[p.name] {
			continue
		}
		cfg.logf("%s: %s", name, p.name)
		if p.fresh {
			if err := srv.Fresh(ctx); err != nil {
				return res, fmt.Errorf("%s: %w", p.name, err)
			}
		}
		var prof *profiler
		if name == "gannet" {
			if prof, err = startProfile(cfg.Profile, p.name); err != nil {
				return res, err
			}
		}
		err := p.run(prof)
		if perr := prof.stop(); err == nil {
			err = perr
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w\n%s", p.name, err, srv.LogTail())
		}
	}
	if err := srv.Stop(); err != nil {
		return res, fmt.Errorf("stopping: %w", err)
	}
	return res, nil
}

// connect dials srv and logs in as address.
func connect(ctx context.Context, srv server, address string) (*client, error) {
	c, err := dial(ctx, srv.Addr())
	if err != nil {
		return nil, err
	}
	if err := c.login(ctx, address, password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// selectBox selects a mailbox and returns the EXISTS count.
func selectBox(ctx context.Context, c *client, args string) (int, error) {
	exists := -1
	_, err := c.run(ctx, "SELECT "+args, func(line []byte) {
		if n, ok := existsCount(line); ok {
			exists = n
		}
	})
	if err == nil && exists < 0 {
		err = errors.New("SELECT: no EXISTS response")
	}
	return exists, err
}

// existsCount returns N of "* N EXISTS".
func existsCount(line []byte) (int, bool) {
	s, ok := strings.CutPrefix(string(bytes.TrimRight(line, "\r\n")), "* ")
	if !ok {
		return 0, false
	}
	num, rest, _ := strings.Cut(s, " ")
	if rest != "EXISTS" {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// peakSampler samples the server's resident memory until stopped; stop
// returns the largest sample, or imapd's VmHWM, which catches every peak.
func peakSampler(ctx context.Context, srv server) (stop func() int64) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			if r, err := srv.Resident(); err == nil {
				peak = max(peak, r)
			}
			select {
			case <-ctx.Done():
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		cancel()
		peak := <-done
		if g, ok := srv.(*gannetServer); ok {
			if hwm, err := vmHWM(g); err == nil {
				peak = hwm
			}
		}
		return peak
	}
}

// runMailbox times SELECT and the full UID FETCH of the big mailbox,
// mailboxRuns times, each on a new connection.
func runMailbox(ctx context.Context, srv server) (*MailboxResult, error) {
	stop := peakSampler(ctx, srv)
	res := &MailboxResult{}
	for range mailboxRuns {
		c, err := connect(ctx, srv, user)
		if err != nil {
			stop()
			return nil, err
		}
		var run MailboxRun
		start := time.Now()
		run.Exists, err = selectBox(ctx, c, "INBOX")
		run.Select = time.Since(start)
		if err == nil {
			before := c.bytes + c.lit
			cpu0 := srv.CPU()
			start = time.Now()
			_, err = c.run(ctx, "UID FETCH 1:* "+fetchItems, func(line []byte) {
				if isFetch(line) {
					run.Fetched++
				}
			})
			run.Fetch = time.Since(start)
			run.FetchCPU = srv.CPU() - cpu0
			run.Bytes = c.bytes + c.lit - before
		}
		if err == nil {
			err = c.logout(ctx)
		}
		c.Close()
		if err != nil {
			stop()
			return nil, err
		}
		res.Runs = append(res.Runs, run)
	}
	res.Peak = stop()
	return res, nil
}

// statusError is a command the server answered NO or BAD.
type statusError struct {
	cmd, status string
}

func (e *statusError) Error() string { return e.cmd + ": " + e.status }

// op is one command of a load; an error other than a *statusError ends
// the client.
type op func(ctx context.Context) error

// runLoad connects clients, readies each with setup (which returns the
// client's op), then runs the ops for cfg.Duration from every client at
// once.
func runLoad(ctx context.Context, cfg Config, srv server, setup func(c *client, i int) (op, error)) (*LoadResult, error) {
	clients := make([]*client, cfg.Clients)
	ops := make([]op, cfg.Clients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, cfg.Clients)
	for i := range clients {
		wg.Go(func() {
			c, err := connect(ctx, srv, user)
			if err != nil {
				errs[i] = err
				return
			}
			clients[i] = c
			ops[i], errs[i] = setup(c, i)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var okOps, failed atomic.Int64
	var firstFail sync.Once
	var note string
	cpu0 := srv.CPU()
	stop := peakSampler(ctx, srv)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	for i := range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				err := ops[i](ctx)
				if err == nil {
					okOps.Add(1)
					continue
				}
				failed.Add(1)
				firstFail.Do(func() { note = err.Error() })
				var se *statusError
				if !errors.As(err, &se) {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	res := &LoadResult{Elapsed: time.Since(start), CPU: srv.CPU() - cpu0, Ops: int(okOps.Load()), Failed: int(failed.Load()), Note: note}
	res.Peak = stop()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	for i, c := range clients {
		if err := c.logout(ctx); err != nil {
			return res, err
		}
		clients[i] = nil
	}
	return res, nil
}

// runAppend appends 10 KB messages to loadMailbox from cfg.Clients
// clients.
func runAppend(ctx context.Context, cfg Config, srv server) (*LoadResult, error) {
	c, err := connect(ctx, srv, user)
	if err != nil {
		return nil, err
	}
	if _, err := c.run(ctx, "CREATE "+quote(loadMailbox), nil); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.logout(ctx); err != nil {
		return nil, err
	}
	return runLoad(ctx, cfg, srv, func(c *client, i int) (op, error) {
		src := newAppendSource(i, appendSize)
		templates := make([][]byte, appendTemplates)
		for k := range templates {
			templates[k] = src.next()
		}
		n := 0
		return func(ctx context.Context) error {
			n++
			msg := fmt.Appendf(nil, "X-Bench-Id: %d.%d\r\n", i, n)
			msg = append(msg, templates[n%len(templates)]...)
			status, err := c.appendMsg(ctx, loadMailbox, msg)
			if err != nil && status != "" {
				return &statusError{"APPEND", status}
			}
			return err
		}, nil
	})
}

// runFetch fetches the BODY[] of random messages of the big mailbox from
// cfg.Clients clients.
func runFetch(ctx context.Context, cfg Config, srv server) (*LoadResult, error) {
	return runLoad(ctx, cfg, srv, func(c *client, i int) (op, error) {
		exists, err := selectBox(ctx, c, "INBOX")
		if err != nil {
			return nil, err
		}
		if exists == 0 {
			return nil, errors.New("the big mailbox is empty")
		}
		rng := rand.New(rand.NewPCG(11, uint64(i)))
		return func(ctx context.Context) error {
			seq := 1 + rng.IntN(exists)
			fetched := 0
			lit := c.lit
			status, err := c.run(ctx, "FETCH "+strconv.Itoa(seq)+" BODY[]", func(line []byte) {
				if isFetch(line) {
					fetched++
				}
			})
			switch {
			case err != nil && status != "":
				return &statusError{"FETCH", status}
			case err != nil:
				return err
			case fetched == 0 || c.lit == lit:
				return &statusError{"FETCH", fmt.Sprintf("%d FETCH responses, %d bytes of literal for message %d", fetched, c.lit-lit, seq)}
			}
			return nil
		}, nil
	})
}

// runIdle opens cfg.Idle connections that select idleUser's INBOX and
// IDLE, and measures the server's resident memory.
func runIdle(ctx context.Context, cfg Config, srv server, prof *profiler) (*IdleResult, error) {
	res := &IdleResult{Conns: cfg.Idle}
	var err error
	if res.Before, err = settled(ctx, srv); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var conns []*client
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	open := func(n int) error {
		jobs := make(chan struct{}, n)
		for range n {
			jobs <- struct{}{}
		}
		close(jobs)
		errs := make([]error, idleDialers)
		var wg sync.WaitGroup
		for w := range idleDialers {
			wg.Go(func() {
				for range jobs {
					c, err := connect(ctx, srv, idleUser)
					if err == nil {
						if _, err = selectBox(ctx, c, "INBOX"); err == nil {
							err = c.idle(ctx)
						}
						mu.Lock()
						conns = append(conns, c)
						mu.Unlock()
					}
					if err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	start := time.Now()
	if err := open(cfg.Idle / 2); err != nil {
		return nil, err
	}
	if res.Half, err = settled(ctx, srv); err != nil {
		return nil, err
	}
	if err := open(cfg.Idle - cfg.Idle/2); err != nil {
		return nil, err
	}
	if res.All, err = settled(ctx, srv); err != nil {
		return nil, err
	}
	cfg.logf("%s: %d IDLE connections in %v", srv.Name(), len(conns), time.Since(start).Round(time.Millisecond))
	if err := prof.snapshot("-conns"); err != nil {
		return nil, err
	}
	cpu0, t0 := srv.CPU(), time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	res.IdleCPU = time.Duration(float64(srv.CPU()-cpu0) / time.Since(t0).Seconds())
	return res, nil
}

// settled waits until the server's resident memory stops moving (two
// samples a second apart within 1%, at most settleMax) and returns it.
func settled(ctx context.Context, srv server) (int64, error) {
	prev, err := srv.Resident()
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(settleMax)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
		cur, err := srv.Resident()
		if err != nil {
			return 0, err
		}
		if d := cur - prev; d*100 <= prev && -d*100 <= prev {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// runQresync makes 100 changes to the big mailbox and times a SELECT with
// QRESYNC from the modification sequence before them.
func runQresync(ctx context.Context, srv server) (*QresyncResult, error) {
	c, err := connect(ctx, srv, user)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if !c.caps["QRESYNC"] {
		return &QresyncResult{}, c.logout(ctx)
	}
	res := &QresyncResult{Supported: true}
	if _, err := c.run(ctx, "ENABLE QRESYNC", nil); err != nil {
		return nil, err
	}
	var validity, modseq uint64
	exists := -1
	_, err = c.run(ctx, "SELECT INBOX", func(line []byte) {
		if n, ok := respCode(line, "UIDVALIDITY"); ok {
			validity = n
		}
		if n, ok := respCode(line, "HIGHESTMODSEQ"); ok {
			modseq = n
		}
		if n, ok := existsCount(line); ok {
			exists = n
		}
	})
	if err != nil {
		return nil, err
	}
	if validity == 0 || modseq == 0 || exists < qresyncFlags+qresyncExpunges {
		return nil, fmt.Errorf("SELECT with QRESYNC enabled: UIDVALIDITY %d, HIGHESTMODSEQ %d, %d messages", validity, modseq, exists)
	}
	rng := rand.New(rand.NewPCG(13, uint64(exists)))
	seqs := rng.Perm(exists)[:qresyncFlags+qresyncExpunges]
	set := func(s []int) string {
		parts := make([]string, len(s))
		for i, n := range s {
			parts[i] = strconv.Itoa(n + 1)
		}
		return strings.Join(parts, ",")
	}
	start := time.Now()
	for _, command := range []string{
		"STORE " + set(seqs[:qresyncFlags]) + ` +FLAGS.SILENT (\Flagged)`,
		"STORE " + set(seqs[qresyncFlags:]) + ` +FLAGS.SILENT (\Deleted)`,
		"EXPUNGE",
	} {
		if _, err := c.run(ctx, command, nil); err != nil {
			return nil, err
		}
	}
	res.Changes = time.Since(start)
	if err := c.logout(ctx); err != nil {
		return nil, err
	}

	c2, err := connect(ctx, srv, user)
	if err != nil {
		return nil, err
	}
	defer c2.Close()
	if _, err := c2.run(ctx, "ENABLE QRESYNC", nil); err != nil {
		return nil, err
	}
	start = time.Now()
	_, err = c2.run(ctx, fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", validity, modseq), func(line []byte) {
		if isFetch(line) {
			res.Fetches++
		}
		if n, ok := vanishedCount(line); ok {
			res.Vanished += n
		}
	})
	res.Select = time.Since(start)
	if err != nil {
		return nil, err
	}
	return res, c2.logout(ctx)
}

// Print writes the figures, phase by phase, both servers side by side.
func Print(w io.Writer, cfg Config, results []Result) {
	if len(results) == 0 {
		return
	}
	var g, d *Result
	for i := range results {
		switch results[i].Server {
		case "gannet":
			g = &results[i]
		case "dovecot":
			d = &results[i]
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "imap: gannet imapd and dovecot %s over implicit TLS on loopback; load average at the end: %s\n",
		dovecotVersion(), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Fprintf(w, "  client: a bare IMAP reader in this process (counts responses, skips literals)\n")
	ratio := func(a, b float64) string {
		if a == 0 || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}

	if rs := pick(results, func(r *Result) bool { return r.Mailbox != nil }); len(rs) > 0 {
		fmt.Fprintf(w, "\nmailbox: %d messages of about %d to %d bytes (%.0f on average); SELECT INBOX, then UID FETCH 1:* %s; %d runs, each a new connection\n",
			cfg.Messages, minSize, maxSize, rs[0].AvgSize, fetchItems, mailboxRuns)
		fmt.Fprintf(w, "  %-8s %-30s %-30s %9s %8s %10s\n", "server", "SELECT (runs 1/2/3)", "UID FETCH (runs 1/2/3)", "responses", "MB", "peak mem")
		for _, r := range rs {
			m := r.Mailbox
			var sel, fet []string
			for _, run := range m.Runs {
				sel = append(sel, ms(run.Select))
				fet = append(fet, ms(run.Fetch))
			}
			last := m.Runs[len(m.Runs)-1]
			fmt.Fprintf(w, "  %-8s %-30s %-30s %9d %8.1f %7.1f MB\n", r.Server, strings.Join(sel, " / "), strings.Join(fet, " / "),
				last.Fetched, float64(last.Bytes)/1e6, float64(m.Peak)/1e6)
			var cpu []string
			for _, run := range m.Runs {
				cpu = append(cpu, ms(run.FetchCPU))
			}
			fmt.Fprintf(w, "  %-8s server CPU during UID FETCH (runs 1/2/3): %s\n", "", strings.Join(cpu, " / "))
			if last.Fetched != cfg.Messages || last.Exists != cfg.Messages {
				fmt.Fprintf(w, "  %s: EXISTS %d and %d FETCH responses, want %d\n", r.Server, last.Exists, last.Fetched, cfg.Messages)
			}
		}
		if g != nil && d != nil && g.Mailbox != nil && d.Mailbox != nil {
			gb, db := g.Mailbox.best(), d.Mailbox.best()
			fmt.Fprintf(w, "  ratio gannet/dovecot (time, best of runs 2-3): SELECT %s, UID FETCH %s (server CPU %s); peak mem %s\n",
				ratio(gb.Select.Seconds(), db.Select.Seconds()), ratio(gb.Fetch.Seconds(), db.Fetch.Seconds()),
				ratio(gb.FetchCPU.Seconds(), db.FetchCPU.Seconds()), ratio(float64(g.Mailbox.Peak), float64(d.Mailbox.Peak)))
		}
	}

	printLoad := func(title string, get func(*Result) *LoadResult, unit string) {
		rs := pick(results, func(r *Result) bool { return get(r) != nil })
		if len(rs) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		fmt.Fprintf(w, "  %-8s %9s %8s %8s %12s %10s\n", "server", unit, "done", "failed", "CPU/op", "peak mem")
		for _, r := range rs {
			l := get(r)
			fmt.Fprintf(w, "  %-8s %9.0f %8d %8d %9.2f ms %7.1f MB\n", r.Server, l.PerSecond(), l.Ops, l.Failed,
				float64(l.CPUPerOp())/1e6, float64(l.Peak)/1e6)
			if l.Note != "" {
				fmt.Fprintf(w, "  %s: first failure: %s\n", r.Server, l.Note)
			}
		}
		if g != nil && d != nil && get(g) != nil && get(d) != nil {
			gl, dl := get(g), get(d)
			fmt.Fprintf(w, "  ratio gannet/dovecot: %s (%s), %s (CPU/op), %s (peak mem)\n", ratio(gl.PerSecond(), dl.PerSecond()), unit,
				ratio(float64(gl.CPUPerOp()), float64(dl.CPUPerOp())), ratio(float64(gl.Peak), float64(dl.Peak)))
		}
	}
	printLoad(fmt.Sprintf("append: %d clients, each APPENDing %d KB messages (unique) to one mailbox, one at a time, for %v",
		cfg.Clients, appendSize/1024, cfg.Duration), func(r *Result) *LoadResult { return r.Append }, "msg/s")
	printLoad(fmt.Sprintf("fetch: %d clients, each SELECTs the big mailbox, then FETCHes BODY[] of a random message, one at a time, for %v",
		cfg.Clients, cfg.Duration), func(r *Result) *LoadResult { return r.Fetch }, "FETCH/s")

	if rs := pick(results, func(r *Result) bool { return r.Idle != nil }); len(rs) > 0 {
		fmt.Fprintf(w, "\nidle: %d connections, each logged in, SELECT INBOX (%d messages), IDLE; resident memory (imapd VmRSS, dovecot sum of Pss)\n",
			cfg.Idle, idleMessages)
		fmt.Fprintf(w, "  %-8s %10s %12s %12s %12s %14s %12s\n", "server", "before", fmt.Sprintf("at %d", cfg.Idle/2), fmt.Sprintf("at %d", cfg.Idle),
			"per conn", "per conn 2nd½", "CPU idling")
		for _, r := range rs {
			i := r.Idle
			fmt.Fprintf(w, "  %-8s %7.1f MB %9.1f MB %9.1f MB %9.1f KB %11.1f KB %9.1f ms/s\n", r.Server, float64(i.Before)/1e6,
				float64(i.Half)/1e6, float64(i.All)/1e6, i.PerConn()/1024, i.Marginal()/1024, float64(i.IdleCPU)/1e6)
		}
		if g != nil && d != nil && g.Idle != nil && d.Idle != nil {
			fmt.Fprintf(w, "  ratio gannet/dovecot: %s (per conn)\n", ratio(g.Idle.PerConn(), d.Idle.PerConn()))
		}
	}

	if rs := pick(results, func(r *Result) bool { return r.Qresync != nil }); len(rs) > 0 {
		fmt.Fprintf(w, "\nqresync: %d flag changes and %d expunges in the big mailbox, then SELECT INBOX (QRESYNC (uidvalidity modseq)) on a new connection\n",
			qresyncFlags, qresyncExpunges)
		for _, r := range rs {
			q := r.Qresync
			if !q.Supported {
				fmt.Fprintf(w, "  %-8s QRESYNC: not yet\n", r.Server)
				continue
			}
			full := ""
			if r.Mailbox != nil {
				full = fmt.Sprintf(" (a full SELECT: %s)", ms(r.Mailbox.best().Select))
			}
			fmt.Fprintf(w, "  %-8s SELECT with QRESYNC %s%s: %d FETCH, %d UIDs VANISHED; the changes took %s\n",
				r.Server, ms(q.Select), full, q.Fetches, q.Vanished, ms(q.Changes))
		}
	}
}

// pick returns the results for which has is true.
func pick(results []Result, has func(*Result) bool) []*Result {
	var out []*Result
	for i := range results {
		if has(&results[i]) {
			out = append(out, &results[i])
		}
	}
	return out
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms"
}

// dovecotVersion is what `dovecot --version` says, or "2.3".
func dovecotVersion() string {
	out, err := exec.Command(dovecotBin, "--version").Output()
	if err != nil {
		return "2.3"
	}
	v, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	return v
}
