package spam

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gannet/lib/config"
	"gannet/lib/message"
	"gannet/lib/store"
	"gannet/lib/store/sqlite"
)

func openBayesStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{
		Path: filepath.Join(t.TempDir(), "gannet.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var (
	spamWords = strings.Fields("viagra cheap pills offer winner lottery claim prize casino bonus unsubscribe limited exclusive discount pharmacy")
	hamWords  = strings.Fields("meeting agenda patch review kernel release notes tomorrow lunch project schedule build commit branch merge")
	fillWords = strings.Fields("the and for with this that from have about would there their which")
)

// corpusMessage makes a varied message of one kind.
func corpusMessage(t testing.TB, r *rand.Rand, spam bool, i int) *Message {
	t.Helper()
	words, from, subj := hamWords, "colleague@work.example", "Re: project status"
	if spam {
		words, from, subj = spamWords, "promo@deals.example", "AMAZING offer!!!"
	}
	var b strings.Builder
	for range 60 {
		if r.IntN(3) == 0 {
			b.WriteString(words[r.IntN(len(words))])
		} else {
			b.WriteString(fillWords[r.IntN(len(fillWords))])
		}
		b.WriteByte(' ')
	}
	raw := fmt.Sprintf("From: <%s>\r\nTo: <me@example.org>\r\nSubject: %s %d\r\nMessage-ID: <%d@x.example>\r\n\r\n%s\r\n",
		from, subj, i, i, b.String())
	return newTestMessage(t, raw)
}

func newTestMessage(t testing.TB, raw string) *Message {
	t.Helper()
	m, err := NewMessage([]byte(raw), Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testBayesConfig() config.SpamBayes {
	c := config.Default().Spam.Bayes
	c.MinSpam, c.MinHam = 5, 5
	return c
}

// trainCorpus teaches n spam and n ham messages to the account's database.
func trainCorpus(t *testing.T, st store.SpamTokens, account int64, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	ctx := context.Background()
	for i := range n {
		for _, spam := range []bool{true, false} {
			if err := Train(ctx, st, account, corpusMessage(t, r, spam, int(seed)*1000+i), spam, false); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestBayesClassifies(t *testing.T) {
	st := openBayesStore(t)
	trainCorpus(t, st, 0, 20, 1)
	b := NewBayes(st, testBayesConfig(), nil)
	r := rand.New(rand.NewPCG(99, 2))
	ctx := context.Background()
	for _, spam := range []bool{true, false} {
		res := &Result{}
		if err := b.Check(ctx, corpusMessage(t, r, spam, 5000), res); err != nil {
			t.Fatal(err)
		}
		p, ok := res.Fact("bayes")
		if !ok {
			t.Fatalf("spam=%v: no bayes fact; tags %v", spam, res.Tags())
		}
		want := "BAYES_00"
		if spam {
			want = "BAYES_99"
		}
		if !res.Has(want) {
			t.Errorf("spam=%v: p=%.4f tags %v, want %s", spam, p, res.Tags(), want)
		}
	}
	// The tags carry SpamAssassin's scores.
	res := &Result{}
	b.Check(ctx, corpusMessage(t, r, true, 5001), res)
	var sum float64
	for _, tg := range res.Tags() {
		sum += tg.Score
	}
	if sum < 3.5 {
		t.Errorf("spam scored %.2f with %v, want >= 3.5", sum, res.Tags())
	}
}

func TestBayesTooLittleTraining(t *testing.T) {
	st := openBayesStore(t)
	trainCorpus(t, st, 0, 3, 1) // below min_spam = min_ham = 5
	b := NewBayes(st, testBayesConfig(), nil)
	res := &Result{}
	if err := b.Check(context.Background(), corpusMessage(t, rand.New(rand.NewPCG(1, 1)), true, 1), res); err != nil {
		t.Fatal(err)
	}
	if tags := res.Tags(); len(tags) != 0 {
		t.Errorf("tags with 3 messages learned: %v", tags)
	}
}

func TestBayesAccountFallsBackToGlobal(t *testing.T) {
	st := openBayesStore(t)
	ctx := context.Background()
	trainCorpus(t, st, 0, 20, 1)
	// Account 7 learned the opposite, but too little: the global database
	// decides. (The spam_tokens table has no foreign key on the account.)
	r := rand.New(rand.NewPCG(3, 3))
	for i := range 2 {
		Train(ctx, st, 7, corpusMessage(t, r, true, 900+i), false, false)
	}
	b := NewBayes(st, testBayesConfig(), nil)
	m := corpusMessage(t, r, true, 950)
	m.Envelope.AccountID = 7
	p, ok, err := b.Probability(ctx, m)
	if err != nil || !ok || p < 0.9 {
		t.Fatalf("account with little training: p=%.3f ok=%v err=%v, want the global verdict (spam)", p, ok, err)
	}
	// Once the account has enough of its own, its own (opposite) view wins.
	for i := range 6 {
		Train(ctx, st, 7, corpusMessage(t, r, true, 1000+i), false, false)
		Train(ctx, st, 7, corpusMessage(t, r, false, 1100+i), true, false)
	}
	b = NewBayes(st, testBayesConfig(), nil)
	if p, ok, err := b.Probability(ctx, m); err != nil || !ok || p > 0.1 {
		t.Errorf("account with its own training: p=%.3f ok=%v err=%v, want its own verdict (ham)", p, ok, err)
	}
}

func TestLearnSeenAndForget(t *testing.T) {
	st := openBayesStore(t)
	ctx := context.Background()
	m := newTestMessage(t, "From: a@b.example\r\nSubject: hello there\r\n\r\nsome words in a message body\r\n")
	steps := []struct {
		spam, forget bool
		want         store.LearnResult
		totals       store.BayesTotals
	}{
		{true, false, store.Learned, store.BayesTotals{Spam: 1}},
		{true, false, store.AlreadyLearned, store.BayesTotals{Spam: 1}},
		{false, false, store.Relearned, store.BayesTotals{Ham: 1}},
		{false, true, store.Forgotten, store.BayesTotals{}},
		{false, true, store.NotLearned, store.BayesTotals{}},
	}
	for i, s := range steps {
		res, n, err := Learn(ctx, st, 0, m, s.spam, s.forget)
		if err != nil || res != s.want || n == 0 {
			t.Fatalf("step %d: %v, %d tokens, %v; want %v", i, res, n, err, s.want)
		}
		tot, err := st.BayesTotals(ctx, 0)
		if err != nil || tot.Spam != s.totals.Spam || tot.Ham != s.totals.Ham {
			t.Fatalf("step %d: totals %+v, %v; want %+v", i, tot, err, s.totals)
		}
	}
	// Forgetting left no token behind.
	n := 0
	st.ScanTokens(ctx, 0, 0, func(uint64, store.TokenCount) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d tokens left after forgetting the only message", n)
	}
	// The same body under another header is the same message.
	m2 := newTestMessage(t, "Received: from x\r\nFrom: a@b.example\r\nSubject: hello there\r\n\r\nsome words in a message body\r\n")
	Learn(ctx, st, 0, m, true, false)
	if res, _, _ := Learn(ctx, st, 0, m2, true, false); res != store.AlreadyLearned {
		t.Errorf("same body, other header: %v, want AlreadyLearned", res)
	}
}

// The model is cached: a change in the store shows after the refresh
// interval, not before, and classification does not read the tokens again
// in between.
func TestBayesCacheRefresh(t *testing.T) {
	st := openBayesStore(t)
	ctx := context.Background()
	trainCorpus(t, st, 0, 10, 1)
	cfg := testBayesConfig()
	cfg.Refresh.Duration = time.Minute
	b := NewBayes(st, cfg, nil)
	clock := time.Now()
	b.now = func() time.Time { return clock }
	m := newTestMessage(t, "From: x@y.example\r\nSubject: zebra\r\n\r\nquokka quokka narwhal axolotl\r\n")
	if p, _, _ := b.Probability(ctx, m); p != 0.5 {
		t.Fatalf("unknown words: p=%v, want 0.5", p)
	}
	// Teach the new words as spam, twice (a token counts from two sightings).
	for i := range 2 {
		mm := newTestMessage(t, fmt.Sprintf("From: x@y.example\r\nSubject: zebra %d\r\n\r\nquokka narwhal axolotl %d\r\n", i, i))
		if err := Train(ctx, st, 0, mm, true, false); err != nil {
			t.Fatal(err)
		}
	}
	if p, _, _ := b.Probability(ctx, m); p != 0.5 {
		t.Errorf("within the refresh interval: p=%v, want the cached 0.5", p)
	}
	clock = clock.Add(2 * time.Minute)
	if p, _, _ := b.Probability(ctx, m); p <= 0.9 {
		t.Errorf("after the refresh interval: p=%v, want spam", p)
	}
}

// A token seen once does not count.
func TestBayesTokenNeedsTwoSightings(t *testing.T) {
	st := openBayesStore(t)
	ctx := context.Background()
	trainCorpus(t, st, 0, 10, 1)
	Train(ctx, st, 0, newTestMessage(t, "From: x@y.example\r\nSubject: a\r\n\r\nquokka\r\n"), true, false)
	b := NewBayes(st, testBayesConfig(), nil)
	s, err := b.snapshot(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.counts[TokenHash("", "quokka")]; ok {
		t.Error("a token seen once is in the model")
	}
	if _, ok := s.counts[TokenHash("", "viagra")]; !ok {
		t.Error("a token seen often is not in the model")
	}
}

func TestTokenize(t *testing.T) {
	raw := "Received: from mail.sender.example (mail.sender.example [192.0.2.7])\r\n" +
		"\tby mx.example.org\r\n" +
		"From: \"Big Sale\" <promo@Deals.Example>\r\n" +
		"Subject: FREE money!!!\r\n" +
		"X-Mailer: BulkMailer 3.1\r\n" +
		"X-Spam-Status: No, forged\r\n" +
		"Content-Type: text/html; charset=UTF-8\r\n\r\n" +
		"<p>Click <a href=\"http://www.cheap-pills.example/buy\">here</a> NOW a averyveryverylongwordindeed</p>\r\n"
	m := newTestMessage(t, raw)
	toks := Tokenize(m)
	has := map[uint64]bool{}
	for _, tk := range toks {
		has[tk] = true
	}
	for _, w := range []struct{ kind, text string }{
		{"", "click"}, {"", "now"}, {"subject", "free"}, {"subject caps", ""}, {"subject punct", "!!!"},
		{"from:addr", "promo@deals.example"}, {"from:domain", "deals.example"}, {"from:name", "sale"},
		{"header", "x-mailer"}, {"x-mailer", "bulkmailer 3.1"}, {"received net", "192.0.2"},
		{"received host", "sender.example"}, {"content-type", "text/html"}, {"charset", "utf-8"},
		{"url", "cheap-pills.example"}, {"skip", "a 20"}, {"message-id host", "<none>"},
	} {
		if !has[TokenHash(w.kind, w.text)] {
			t.Errorf("no token %s:%q", w.kind, w.text)
		}
	}
	if has[TokenHash("header", "x-spam-status")] {
		t.Error("X-Spam-Status made a token")
	}
	// Short words make no token.
	if has[TokenHash("", "a")] {
		t.Error(`"a" made a token`)
	}
}

// Message built by hand, without NewMessage: the tokenizer decodes the
// text itself.
func TestTokenizeWithoutNewMessage(t *testing.T) {
	raw := []byte("Subject: hi\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nwonderful=20offer\r\n")
	m := &Message{Raw: raw, Parsed: message.Parse(raw)}
	has := map[uint64]bool{}
	for _, tk := range Tokenize(m) {
		has[tk] = true
	}
	if !has[TokenHash("", "wonderful")] || !has[TokenHash("subject", "hi")] {
		t.Error("hand-built message: body or subject words missing")
	}
}

func TestChi2Q(t *testing.T) {
	for _, c := range []struct {
		x2   float64
		v    int
		want float64
	}{{0, 2, 1}, {2, 2, 0.3679}, {10, 4, 0.0404}} {
		if got := chi2Q(c.x2, c.v); got < c.want-1e-3 || got > c.want+1e-3 {
			t.Errorf("chi2Q(%v, %d) = %.4f, want %.4f", c.x2, c.v, got, c.want)
		}
	}
}

func TestAutoLearn(t *testing.T) {
	st := openBayesStore(t)
	ctx := context.Background()
	cfg := testBayesConfig()
	m := newTestMessage(t, "From: a@b.example\r\nSubject: x\r\n\r\nbody words here\r\n")
	cases := []struct {
		tags          []Tag
		learned, spam bool
	}{
		{[]Tag{{Name: "BAYES_99", Score: 3.5}}, false, false},                                   // Bayes alone never teaches itself
		{[]Tag{{Name: "RULE_A", Score: 6}, {Name: "BAYES_50", Score: 0.8}}, false, false},       // unsure
		{[]Tag{{Name: "RULE_A", Score: 13}, {Name: "BAYES_00", Score: -1.9}}, false, false},     // Bayes disagrees strongly
		{[]Tag{{Name: "RULE_A", Score: 13}, {Name: "BAYES_50", Score: 0.8}}, true, true},        // spam
		{[]Tag{{Name: "DKIM_ALLOW", Score: -0.5}, {Name: "BAYES_50", Score: 0.8}}, true, false}, // ham (moves it)
	}
	for i, c := range cases {
		learned, spam, err := AutoLearn(ctx, st, cfg, m, &Verdict{Tags: c.tags})
		if err != nil || learned != c.learned || (learned && spam != c.spam) {
			t.Errorf("case %d: learned=%v spam=%v err=%v, want learned=%v spam=%v", i, learned, spam, err, c.learned, c.spam)
		}
	}
}

// Concurrent classification and training are safe (run with -race).
func TestBayesConcurrent(t *testing.T) {
	st := openBayesStore(t)
	trainCorpus(t, st, 0, 10, 1)
	cfg := testBayesConfig()
	cfg.Refresh.Duration = time.Millisecond
	b := NewBayes(st, cfg, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 20 {
				m := corpusMessage(t, r, i%2 == 0, w*100+i)
				if w == 0 {
					if err := Train(ctx, st, 0, m, i%2 == 0, false); err != nil {
						t.Error(err)
					}
					continue
				}
				if err := b.Check(ctx, m, &Result{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkBayesCheck measures one classification (tokenizing and the
// in-memory model; NewMessage not included).
func BenchmarkBayesCheck(b *testing.B) {
	st, err := sqlite.Open(context.Background(), sqlite.Options{
		Path: filepath.Join(b.TempDir(), "gannet.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := rand.New(rand.NewPCG(1, 1))
	ctx := context.Background()
	for i := range 50 {
		for _, spam := range []bool{true, false} {
			if err := Train(ctx, st, 0, corpusMessage(b, r, spam, i), spam, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	bc := NewBayes(st, testBayesConfig(), nil)
	m := corpusMessage(b, r, true, 9999)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bc.Check(ctx, m, &Result{}); err != nil {
				b.Error(err)
			}
		}
	})
}
