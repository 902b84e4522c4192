package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ensureTools installs the Debian packages holding the named programs
// when one is missing.
func ensureTools(ctx context.Context, pkgs map[string]string) error {
	var missing []string
	for prog, pkg := range pkgs {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "-q"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %w\n%s", strings.Join(missing, " "), err, out)
	}
	return nil
}

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeSet writes messages as one file each under dir (for sa-learn).
func writeSet(dir string, msgs []Msg) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, m := range msgs {
		if err := os.WriteFile(filepath.Join(dir, m.Name), m.Raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// split returns the training messages of one kind.
func split(train []Msg, spam bool) []Msg {
	var out []Msg
	for _, m := range train {
		if isSpamSet(m.Set) == spam {
			out = append(out, m)
		}
	}
	return out
}

// classifyAll runs classify over test with workers goroutines and counts
// the verdicts into r; it times the whole.
func classifyAll(ctx context.Context, workers int, test []Msg, r *Result, classify func(m Msg) (bool, float64, error)) error {
	verdicts := make([]bool, len(test))
	scores := make([]float64, len(test))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for range max(workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(test) {
					return
				}
				v, score, err := classify(test[i])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s/%s: %w", test[i].Set, test[i].Name, err)
					}
					mu.Unlock()
					return
				}
				verdicts[i], scores[i] = v, score
			}
		})
	}
	wg.Wait()
	r.Classify = time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, m := range test {
		r.add(m.Set, verdicts[i])
		r.Scores = append(r.Scores, Scored{m.Set, scores[i]})
	}
	return nil
}

// runSpamAssassin trains a private Bayes database with sa-learn, starts a
// private spamd on a loopback port with it (local tests only: no DNS, no
// Razor or Pyzor) and classifies over the SPAMD protocol.
func runSpamAssassin(ctx context.Context, cfg Config, train, test []Msg) (*Result, error) {
	if err := ensureTools(ctx, map[string]string{"spamd": "spamassassin", "sa-learn": "spamassassin"}); err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "gannet-bench-sa-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	etc := filepath.Join(home, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return nil, err
	}
	// The site configuration: Debian's plugin loading (*.pre) and ours.
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre")
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(etc, filepath.Base(p)), b, 0o644); err != nil {
			return nil, err
		}
	}
	local := fmt.Sprintf(`use_bayes 1
bayes_auto_learn 0
bayes_path %s/bayes/bayes
lock_method flock
skip_rbl_checks 1
dns_available no
use_razor2 0
use_pyzor 0
`, home)
	if err := os.WriteFile(filepath.Join(etc, "local.cf"), []byte(local), 0o644); err != nil {
		return nil, err
	}
	res := &Result{System: "SpamAssassin", Sets: map[string]*SetResult{}}
	start := time.Now()
	for _, kind := range []string{"spam", "ham"} {
		dir := filepath.Join(home, "train", kind)
		if err := writeSet(dir, split(train, kind == "spam")); err != nil {
			return nil, err
		}
		if cfg.Verbose {
			fmt.Fprintf(os.Stderr, "spamassassin: sa-learn --%s %s\n", kind, dir)
		}
		cmd := exec.CommandContext(ctx, "sa-learn", "--siteconfigpath", etc, "--local", "--no-sync", "--"+kind, dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sa-learn --%s: %w\n%s", kind, err, out)
		}
	}
	if out, err := exec.CommandContext(ctx, "sa-learn", "--siteconfigpath", etc, "--sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sa-learn --sync: %w\n%s", err, out)
	}
	res.Train = time.Since(start)
	if out, err := exec.CommandContext(ctx, "chown", "-R", "debian-spamd:", home).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown: %w\n%s", err, out)
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	spamd, err := exec.LookPath("spamd")
	if err != nil {
		return nil, err
	}
	workers := max(cfg.Workers, 1)
	d, err := startDaemon(spamd, filepath.Join(home, "spamd.log"), "--siteconfigpath", etc, "--local", "--nouser-config",
		"--username", "debian-spamd", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--allowed-ips", "127.0.0.1",
		"--max-children", strconv.Itoa(workers), "--min-children", strconv.Itoa(workers),
		"--pidfile", filepath.Join(home, "spamd.pid"), "--syslog", "stderr")
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitPort(ctx, addr, d); err != nil {
		return nil, fmt.Errorf("spamd: %w\n%s", err, d.LogTail(2000))
	}
	if cfg.Verbose {
		fmt.Fprintf(os.Stderr, "spamassassin: classifying %d messages\n", len(test))
	}
	err = classifyAll(ctx, workers, test, res, func(m Msg) (bool, float64, error) { return spamcCheck(ctx, addr, m.Raw) })
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, d.LogTail(2000))
	}
	res.Note = "spamd --local (no DNS, Razor, Pyzor), Bayes by sa-learn, default rules, required_score 5"
	return res, nil
}

// spamcCheck asks spamd whether raw is spam (SPAMD protocol 1.5, CHECK).
func spamcCheck(ctx context.Context, addr string, raw []byte) (bool, float64, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	fmt.Fprintf(c, "CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n", len(raw))
	if _, err := c.Write(raw); err != nil {
		return false, 0, err
	}
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil {
		return false, 0, fmt.Errorf("spamd: %w", err)
	}
	if !strings.HasPrefix(status, "SPAMD/") || !strings.Contains(status, " 0 EX_OK") {
		return false, 0, fmt.Errorf("spamd: %s", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false, 0, fmt.Errorf("spamd: no Spam header: %w", err)
		}
		// Spam: True ; 15.3 / 5.0
		if v, ok := strings.CutPrefix(line, "Spam: "); ok {
			spam := strings.HasPrefix(strings.ToLower(v), "true") || strings.HasPrefix(strings.ToLower(v), "yes")
			var score float64
			if _, after, ok := strings.Cut(v, ";"); ok {
				score, _ = strconv.ParseFloat(strings.TrimSpace(strings.Split(after, "/")[0]), 64)
			}
			return spam, score, nil
		}
	}
}
