package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gannet/bench/internal/benchutil"
	"gannet/lib/spamd"
)

// runSpamd classifies the test sets through Gannet's spamd program over
// its sockets (SPAMD CHECK), TCP on loopback and then a unix socket, on the
// store runGannet trained, with four clients per core at once: the issue
// asks it to be within 20 % of the in-process figure. The daemon and the
// clients share the machine's cores, as spamc and spamd do.
func runSpamd(ctx context.Context, cfg Config, dir, dnsAddr string, test []Msg) ([]*Result, error) {
	bin := filepath.Join(dir, "bin")
	if err := benchutil.Build(ctx, bin, "./cmd/spamd"); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	sock := filepath.Join(dir, "spamd.sock")
	conf := filepath.Join(dir, "spamd.toml")
	err = os.WriteFile(conf, fmt.Appendf(nil, `[server]
hostname = "mx.example.test"
state_dir = %q

[dns]
resolver = %q

[log]
level = "warn"

[[spamd.listener]]
name = "spamd"
address = %q

[[spamd.listener]]
name = "spamd"
address = %q
`, dir, dnsAddr, addr, sock), 0o600)
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(filepath.Join(bin, "spamd"), filepath.Join(dir, "spamd.log"), "--config", conf)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitPort(wctx, addr, d); err != nil {
		return nil, fmt.Errorf("spamd did not start: %w\n%s", err, d.LogTail(2000))
	}
	var out []*Result
	for _, s := range []struct{ name, addr string }{{"TCP", addr}, {"unix socket", sock}} {
		r, err := classifyVia(ctx, d, "Gannet spamd ("+s.name+")", s.addr, test)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// classifyVia classifies the test sets through spamd at addr.
func classifyVia(ctx context.Context, d *benchutil.Daemon, system, addr string, test []Msg) (*Result, error) {
	cl := &spamd.Client{Addresses: []string{addr}, Timeout: time.Minute}
	res := &Result{System: system, Sets: map[string]*SetResult{}, Train: -1}
	verdicts := make([]bool, len(test))
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	// Warm up (the model loaded, the connections' paths run) outside the
	// timing, as the in-process run does.
	for _, m := range test[:min(len(test), warmUp)] {
		if _, err := cl.Do(ctx, &spamd.Request{Command: spamd.Check, Body: m.Raw}); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", m.Set, m.Name, err)
		}
	}
	srv0, err := benchutil.ProcCPU(d.Pid())
	if err != nil {
		return nil, err
	}
	cli0, err := benchutil.ProcCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	// Four clients per core keep spamd busy while others wait on the
	// network, as concurrent spamc runs do.
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(test) {
					return
				}
				r, err := cl.Do(ctx, &spamd.Request{Command: spamd.Check, Body: test[i].Raw})
				if err == nil && r.Code != 0 {
					err = fmt.Errorf("spamd answered %d %s", r.Code, r.Message)
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s/%s: %w", test[i].Set, test[i].Name, err) })
					return
				}
				verdicts[i] = r.Spam
			}
		})
	}
	wg.Wait()
	res.Classify = time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	srv1, err := benchutil.ProcCPU(d.Pid())
	if err != nil {
		return nil, err
	}
	cli1, err := benchutil.ProcCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	res.Note = fmt.Sprintf("processor time per message: spamd %s, the clients %s",
		perMessage(srv1.Self-srv0.Self, len(test)), perMessage(cli1.Self-cli0.Self, len(test)))
	for i, m := range test {
		res.add(m.Set, verdicts[i])
	}
	return res, nil
}

// perMessage formats processor time d spent on n messages as
// milliseconds per message.
func perMessage(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f ms", d.Seconds()*1000/float64(n))
}
