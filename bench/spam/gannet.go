package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gannet/bench/internal/benchutil"
	"gannet/lib/config"
	"gannet/lib/dnstest"
	"gannet/lib/msgauth"
	"gannet/lib/spam"
	"gannet/lib/store/sqlite"
)

// warmUp is how many test messages each system classifies before the
// timing starts.
const warmUp = 200

// runGannet trains a fresh store's global Bayes database on the training
// sets and classifies the test sets with the whole filter (spam.New with
// every checker this build has; no resolver, so no DNS), in process, with
// GOMAXPROCS workers.
func runGannet(ctx context.Context, cfg Config, train, test []Msg) (*Result, []*Result, error) {
	dir, err := os.MkdirTemp("", "gannet-bench-spam-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "gannet.db"), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()

	res := &Result{System: "Gannet", Sets: map[string]*SetResult{}}
	start := time.Now()
	for i, m := range train {
		msg, err := spam.NewMessage(m.Raw, spam.Envelope{})
		if err != nil {
			return nil, nil, fmt.Errorf("%s/%s: %w", m.Set, m.Name, err)
		}
		if err := spam.Train(ctx, st, 0, msg, isSpamSet(m.Set), false); err != nil {
			return nil, nil, fmt.Errorf("train %s/%s: %w", m.Set, m.Name, err)
		}
		if cfg.Verbose && i%500 == 499 {
			fmt.Fprintf(os.Stderr, "gannet: trained %d/%d\n", i+1, len(train))
		}
	}
	res.Train = time.Since(start)

	c := config.Default()
	c.Server.Hostname = "mx.example.test"
	c.Server.StateDir = dir
	// No network: the blocklists are asked, and a DNS server of our own
	// on loopback answers that nothing is listed (NXDOMAIN), for spamd too.
	dnsSrv, err := dnstest.Start()
	if err != nil {
		return nil, nil, err
	}
	defer dnsSrv.Close()
	c.DNS.Resolver = dnsSrv.Addr()
	resolver, err := msgauth.NewResolver(c.DNS, msgauth.DefaultCacheSize)
	if err != nil {
		return nil, nil, err
	}
	f, err := spam.New(ctx, spam.Deps{Config: c, Store: st, Resolver: resolver, Log: log})
	if err != nil {
		return nil, nil, err
	}
	bayes := spam.NewBayes(st, c.Spam.Bayes, log)

	verdicts := make([]bool, len(test))
	descs := make([]string, len(test)) // misclassified messages, for -v
	scores := make([]float64, len(test))
	probs := make([]float64, len(test))
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	// Warm up (the Bayes model loaded, the code paths run) outside the
	// timing, as the spamd runs do.
	for _, m := range test[:min(len(test), warmUp)] {
		msg, err := newMessage(m.Raw)
		if err != nil {
			return nil, nil, err
		}
		f.Check(ctx, msg, nil)
	}
	cpu0, err := benchutil.ProcCPU(os.Getpid())
	if err != nil {
		return nil, nil, err
	}
	start = time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(test) {
					return
				}
				msg, err := newMessage(test[i].Raw)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				v := f.Check(ctx, msg, nil)
				verdicts[i], scores[i] = v.Spam, v.Score
				if cfg.Verbose && v.Spam != isSpamSet(test[i].Set) {
					descs[i] = describe(test[i], v)
				}
			}
		})
	}
	wg.Wait()
	res.Classify = time.Since(start)
	if firstErr != nil {
		return nil, nil, firstErr
	}
	cpu1, err := benchutil.ProcCPU(os.Getpid())
	if err != nil {
		return nil, nil, err
	}
	res.Note = "processor time per message " + perMessage(cpu1.Self-cpu0.Self, len(test))
	res.Checkers = len(f.Checks) + len(f.Last)

	// The Bayes classifier alone, at probability 0.9 (outside the timing).
	alone := &Result{System: "Gannet Bayes alone (p >= 0.9)", Sets: map[string]*SetResult{}}
	for i, m := range test {
		msg, err := newMessage(m.Raw)
		if err != nil {
			return nil, nil, err
		}
		p, _, err := bayes.Probability(ctx, msg)
		if err != nil {
			return nil, nil, err
		}
		probs[i] = p
		res.add(m.Set, verdicts[i])
		alone.add(m.Set, p >= 0.9)
	}
	alone.Train, alone.Classify = res.Train, -1
	if cfg.Verbose {
		// How the probabilities spread, per set and Bayes band.
		bands := map[string]map[string]int{}
		for i, m := range test {
			if bands[m.Set] == nil {
				bands[m.Set] = map[string]int{}
			}
			bands[m.Set][spam.BayesTag(probs[i])]++
		}
		for _, set := range testSets {
			fmt.Fprintf(os.Stderr, "%-11s", set)
			for _, t := range config.BayesTags[:9] {
				fmt.Fprintf(os.Stderr, " %s=%d", t[6:], bands[set][t])
			}
			fmt.Fprintln(os.Stderr)
		}
	}
	for i, m := range test {
		res.Scores = append(res.Scores, Scored{m.Set, scores[i]})
	}
	if cfg.Verbose {
		printCurve(os.Stderr, res)
		for _, d := range descs {
			if d != "" {
				fmt.Fprintln(os.Stderr, d)
			}
		}
	}
	extra := []*Result{alone}
	// The same filter through spamd's socket (the store stays open here:
	// SQLite lets both read it).
	sd, err := runSpamd(ctx, cfg, dir, dnsSrv.Addr(), test)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gannet spamd: %v\n", err)
	} else {
		extra = append(extra, sd...)
	}
	return res, extra, nil
}

// describe names a misclassified message with its score and tags, for -v.
func describe(m Msg, v *spam.Verdict) string {
	what := "false positive"
	if isSpamSet(m.Set) {
		what = "false negative"
	}
	var tags []string
	for _, t := range v.Tags {
		tags = append(tags, fmt.Sprintf("%s=%.1f", t.Name, t.Score))
	}
	return fmt.Sprintf("%s: %s/%s score %.1f: %s", what, m.Set, m.Name, v.Score, strings.Join(tags, " "))
}

// newMessage parses a corpus message as spamc and spamd see it: no SMTP
// session, the client taken from the Received fields.
func newMessage(raw []byte) (*spam.Message, error) {
	m, err := spam.NewMessage(raw, spam.Envelope{})
	if err != nil {
		return nil, err
	}
	m.ClientFromReceived()
	return m, nil
}

// curveThresholds are the thresholds -v shows the figures at.
var curveThresholds = []float64{3, 4, 4.5, 5, 5.5, 6, 7}

// printCurve prints what other thresholds would have done with r's scores.
func printCurve(w io.Writer, r *Result) {
	for _, th := range curveThresholds {
		fmt.Fprintf(w, "%s threshold %4.1f:", r.System, th)
		for _, set := range testSets {
			fmt.Fprintf(w, " %s %.1f %%", set, 100*flaggedAt(r.Scores, set, th))
		}
		fmt.Fprintln(w)
	}
}

// flaggedAt is the share of set's messages scoring th or more.
func flaggedAt(scores []Scored, set string, th float64) float64 {
	n, f := 0, 0
	for _, s := range scores {
		if s.Set == set {
			n++
			if s.Score >= th {
				f++
			}
		}
	}
	return float64(f) / float64(max(n, 1))
}

// bestWithin returns the largest share of spam-1 a threshold catches while
// flagging at most maxHard of hard-ham-1 and maxEasy of easy-ham-2, and
// that threshold; ok is false when no threshold does.
func bestWithin(scores []Scored, maxHard, maxEasy float64) (spam, th float64, ok bool) {
	cands := make([]float64, 0, len(scores))
	for _, s := range scores {
		cands = append(cands, s.Score)
	}
	slices.Sort(cands)
	cands = append(slices.Compact(cands), math.Inf(1)) // the last flags nothing
	for _, t := range cands {
		if flaggedAt(scores, "hard-ham-1", t) <= maxHard && flaggedAt(scores, "easy-ham-2", t) <= maxEasy {
			// Thresholds rise: the first that keeps within the bounds
			// catches the most spam.
			return flaggedAt(scores, "spam-1", t), t, true
		}
	}
	return 0, 0, false
}
