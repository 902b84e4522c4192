package tests

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"gannet/lib/config"
	"gannet/lib/message"
	"gannet/lib/spam"
	"gannet/lib/store"
)

// bayesMessage is a message of one kind, different for each n.
func bayesMessage(spamMsg bool, n int) string {
	if spamMsg {
		return fmt.Sprintf("From: Deals <promo@cheap-deals.test>\nTo: demo@example.test\nSubject: WIN a prize now %d!!!\n"+
			"Message-ID: <s%d@cheap-deals.test>\n\nClaim your casino bonus, cheap pills and lottery winnings %d.\n"+
			"Exclusive discount offer, click to unsubscribe.\n", n, n, n)
	}
	return fmt.Sprintf("From: Alice <alice@work.test>\nTo: demo@example.test\nSubject: Re: project meeting %d\n"+
		"Message-ID: <h%d@work.test>\n\nThe agenda for tomorrow's review %d: kernel patch, release notes,\n"+
		"build schedule and the branch merge. Lunch after?\n", n, n, n)
}

// bayesCorpus writes spam as a maildir (new/ and cur/), ham as an mbox
// (one body line needing mboxrd quoting) and one loose spam file.
func bayesCorpus(t *testing.T, dir string, n int) (maildir, mbox, loose string) {
	t.Helper()
	maildir = filepath.Join(dir, "Spam")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		sub := "cur"
		if i%2 == 0 {
			sub = "new"
		}
		name := fmt.Sprintf("%d.M%dP1.host:2,S", 1700000000+i, i)
		if err := os.WriteFile(filepath.Join(maildir, sub, name), []byte(bayesMessage(true, i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A message still being delivered (tmp/) is not read.
	os.WriteFile(filepath.Join(maildir, "tmp", "partial"), []byte(bayesMessage(true, 999)), 0o644)
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "From alice@work.test Thu Aug 22 12:36:23 2002\n%s>From the notes: nothing.\n\n", bayesMessage(false, i))
	}
	mbox = filepath.Join(dir, "ham.mbox")
	if err := os.WriteFile(mbox, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	loose = filepath.Join(dir, "one.eml")
	if err := os.WriteFile(loose, []byte(bayesMessage(true, 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	return maildir, mbox, loose
}

var summaryRE = regexp.MustCompile(`^learned (\d+) messages, moved (\d+) learned the other way, skipped (\d+) already learned, (\d+) tokens\n$`)

// wantSummary checks bayes-train's closing line.
func wantSummary(t *testing.T, r result, learned, moved, skipped int) {
	t.Helper()
	m := summaryRE.FindStringSubmatch(r.stdout)
	if r.status != 0 || m == nil {
		t.Fatalf("status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	if got := fmt.Sprintf("%s %s %s", m[1], m[2], m[3]); got != fmt.Sprintf("%d %d %d", learned, moved, skipped) {
		t.Errorf("learned/moved/skipped = %s, want %d %d %d (%q)", got, learned, moved, skipped, r.stdout)
	}
	if learned+moved > 0 && m[4] == "0" {
		t.Errorf("no tokens counted: %q", r.stdout)
	}
}

func TestBayesTrain(t *testing.T) {
	e := newSmtpdEnv(t, "\n[spam.bayes]\nmin_spam = 5\nmin_ham = 5\n")
	maildir, mbox, loose := bayesCorpus(t, t.TempDir(), 10)
	cfg := []string{"--config", e.config}
	train := func(stdin string, args ...string) result {
		return runWith(t, runOpts{stdin: stdin}, "bayes-train", append(cfg, args...)...)
	}

	// Global training from a maildir, an mbox and a file.
	wantSummary(t, train("", "--spam", maildir, loose), 11, 0, 0)
	wantSummary(t, train("", "--ham", mbox), 10, 0, 0)
	// Learning again changes nothing (the record of learned messages).
	wantSummary(t, train("", "--spam", maildir), 0, 0, 10)
	// A message learned the wrong way is moved; one from stdin.
	ham3 := bayesMessage(false, 3) + "From the notes: nothing.\n" // as the mbox holds it
	wantSummary(t, train(ham3, "--spam", "-"), 0, 1, 0)
	wantSummary(t, train(ham3, "--ham"), 0, 1, 0)
	// --forget undoes.
	if r := train("", "--forget", loose); r.status != 0 || !strings.HasPrefix(r.stdout, "forgot 1 messages, 0 were never learned") {
		t.Errorf("--forget: %d %q %q", r.status, r.stdout, r.stderr)
	}
	if r := train("", "--forget", loose); r.status != 0 || !strings.HasPrefix(r.stdout, "forgot 0 messages, 1 were never learned") {
		t.Errorf("--forget again: %d %q %q", r.status, r.stdout, r.stderr)
	}
	// --quiet prints nothing.
	if r := train("", "--ham", "--quiet", mbox); r.status != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("--quiet: %d %q %q", r.status, r.stdout, r.stderr)
	}

	st := e.openStore()
	ctx := context.Background()
	tot, err := st.BayesTotals(ctx, 0)
	if err != nil || tot.Spam != 10 || tot.Ham != 10 {
		t.Fatalf("global totals %+v, %v; want 10 spam, 10 ham", tot, err)
	}
	// What was learned classifies.
	b := spam.NewBayes(st, loadConfig(t, e.config).Spam.Bayes, nil)
	for _, isSpam := range []bool{true, false} {
		m, err := spam.NewMessage([]byte(strings.ReplaceAll(bayesMessage(isSpam, 77), "\n", "\r\n")), spam.Envelope{})
		if err != nil {
			t.Fatal(err)
		}
		p, ok, err := b.Probability(ctx, m)
		if err != nil || !ok || (p > 0.9) != isSpam || (p < 0.1) == isSpam {
			t.Errorf("spam=%v: probability %.3f ok=%v err=%v", isSpam, p, ok, err)
		}
	}

	// Per account.
	wantSummary(t, train("", "--spam", "--account", smtpdUser, maildir), 10, 0, 0)
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		t.Fatal(err)
	}
	if tot, err := st.BayesTotals(ctx, acct.ID); err != nil || tot.Spam != 10 || tot.Ham != 0 {
		t.Errorf("account totals %+v, %v; want 10 spam", tot, err)
	}
	if r := train("", "--spam", "--account", "nobody@example.test", loose); r.status != 1 || !strings.Contains(r.stderr, "no account nobody@example.test") {
		t.Errorf("unknown account: %d %q", r.status, r.stderr)
	}

	// Users' verdicts from the Junk folder.
	inbox, err := st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(strings.ReplaceAll(bayesMessage(false, 600), "\n", "\r\n"))
	msgs, err := st.AddMessages(ctx, []store.NewMessage{{AccountID: acct.ID, MailboxID: inbox.ID, Raw: raw, Meta: message.Parse(raw).Meta()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddTrainingEvents(ctx, []store.TrainingEvent{{AccountID: acct.ID, MessageID: msgs[0].ID,
		BlobID: msgs[0].BlobID, Spam: false, Source: "imap-move"}}); err != nil {
		t.Fatal(err)
	}
	if r := train("", "--junk-folders"); r.status != 0 || r.stdout != "applied 1 training events from Junk folders\n" {
		t.Errorf("--junk-folders: %d %q %q", r.status, r.stdout, r.stderr)
	}
	if r := train("", "--junk-folders"); r.status != 0 || r.stdout != "applied 0 training events from Junk folders\n" {
		t.Errorf("--junk-folders again: %d %q %q", r.status, r.stdout, r.stderr)
	}
	if tot, err := st.BayesTotals(ctx, acct.ID); err != nil || tot.Ham != 1 {
		t.Errorf("account totals after --junk-folders %+v, %v; want 1 ham", tot, err)
	}
}

// Two bayes-train runs at once (cron while another runs) both land.
func TestBayesTrainConcurrent(t *testing.T) {
	e := newSmtpdEnv(t, "")
	dir := t.TempDir()
	var files [2]string
	for k := range files {
		var b strings.Builder
		for i := range 40 {
			fmt.Fprintf(&b, "From x@y.test Thu Aug 22 12:36:23 2002\n%s\n", bayesMessage(k == 0, k*1000+i))
		}
		files[k] = filepath.Join(dir, fmt.Sprintf("%d.mbox", k))
		if err := os.WriteFile(files[k], []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for k, f := range files {
		wg.Go(func() {
			kind := "--ham"
			if k == 0 {
				kind = "--spam"
			}
			r := run(t, "bayes-train", "--config", e.config, kind, f)
			if r.status != 0 || !strings.HasPrefix(r.stdout, "learned 40 messages") {
				t.Errorf("%s: %d %q %q", kind, r.status, r.stdout, r.stderr)
			}
		})
	}
	wg.Wait()
	tot, err := e.openStore().BayesTotals(context.Background(), 0)
	if err != nil || tot.Spam != 40 || tot.Ham != 40 {
		t.Errorf("totals %+v, %v; want 40 and 40", tot, err)
	}
}

func TestBayesTrainUsage(t *testing.T) {
	e := newSmtpdEnv(t, "")
	for _, args := range [][]string{
		{},                           // no kind
		{"--spam", "--ham"},          // both
		{"--junk-folders", "--spam"}, // mixed modes
		{"--expire", "--ham"},
		{"--expire", "/tmp"},
	} {
		r := run(t, "bayes-train", append([]string{"--config", e.config}, args...)...)
		if r.status != 2 || !strings.HasPrefix(r.stderr, "bayes-train: ") {
			t.Errorf("%q: status %d, stderr %q; want 2", args, r.status, r.stderr)
		}
	}
	// A missing file is an error naming it.
	r := run(t, "bayes-train", "--config", e.config, "--spam", "/nonexistent/box")
	if r.status != 1 || !strings.Contains(r.stderr, "/nonexistent/box") {
		t.Errorf("missing file: %d %q", r.status, r.stderr)
	}
}

// loadConfig reads a test's configuration file.
func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bayesWordsMessage is a spam message of n words unique to it (k) and a
// few shared by every message.
func bayesWordsMessage(k, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Deals <promo@cheap-deals.test>\nTo: demo@example.test\nSubject: offer %d\n"+
		"Message-ID: <w%d@cheap-deals.test>\n\ncasino bonus lottery winnings\n", k, k)
	for i := range n {
		fmt.Fprintf(&b, "zq%dx%dword ", k, i)
	}
	b.WriteString("\n")
	return b.String()
}

func TestBayesTrainExpire(t *testing.T) {
	e := newSmtpdEnv(t, "\n[spam.bayes]\nmax_tokens = 1000\n")
	cfg := []string{"--config", e.config}
	dir := t.TempDir()
	// 150 messages (more than one batch) of 20 unique words each: over
	// 3000 tokens, most of them seen once.
	var b strings.Builder
	for k := range 150 {
		fmt.Fprintf(&b, "From promo@cheap-deals.test Thu Aug 22 12:36:23 2002\n%s\n", bayesWordsMessage(k, 20))
	}
	mbox := filepath.Join(dir, "spam.mbox")
	if err := os.WriteFile(mbox, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	wantSummary(t, run(t, "bayes-train", append(cfg, "--spam", mbox)...), 150, 0, 0)
	wantSummary(t, run(t, "bayes-train", append(cfg, "--spam", "--account", smtpdUser, mbox)...), 150, 0, 0)

	st := e.openStore()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, smtpdUser)
	if err != nil {
		t.Fatal(err)
	}
	count := func(account int64) (all, repeated int) {
		t.Helper()
		err := st.ScanTokens(ctx, account, 0, func(_ uint64, c store.TokenCount) error {
			all++
			if c.Spam+c.Ham >= 2 {
				repeated++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return all, repeated
	}
	global, _ := count(0)
	if global <= 3000 {
		t.Fatalf("%d global tokens, want over 3000", global)
	}
	_, genBefore, _ := st.BayesGeneration(ctx, acct.ID)

	// With --account only the account's database is expired: made 30 days
	// old, it keeps just its tokens seen twice.
	db, err := sql.Open("sqlite", e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE spam_tokens SET last_seen = last_seen - 30 WHERE account_id = ?`, acct.ID); err != nil {
		t.Fatal(err)
	}
	_, repeatedBefore := count(acct.ID)
	r := run(t, "bayes-train", append(cfg, "--expire", "--account", smtpdUser)...)
	if r.status != 0 || !strings.HasPrefix(r.stdout, "expired ") {
		t.Fatalf("--expire --account: %d %q %q", r.status, r.stdout, r.stderr)
	}
	all, repeated := count(acct.ID)
	if all != repeated || repeated != repeatedBefore || repeated == 0 {
		t.Errorf("account after expiry: %d tokens, %d seen twice (before: %d seen twice); want only those", all, repeated, repeatedBefore)
	}
	if _, gen, _ := st.BayesGeneration(ctx, acct.ID); gen == genBefore {
		t.Errorf("account generation %d unchanged by expiry", gen)
	}
	if n, _ := count(0); n != global {
		t.Errorf("global tokens %d after expiring the account's, want %d", n, global)
	}

	// Every database: the global one is cut to max_tokens (its singletons
	// are new), keeping the tokens seen twice (the most recent: all today,
	// the rarest go first).
	r = run(t, "bayes-train", append(cfg, "--expire")...)
	if want := fmt.Sprintf("expired %d tokens\n", global-1000); r.status != 0 || r.stdout != want {
		t.Errorf("--expire: %d %q %q; want %q", r.status, r.stdout, r.stderr, want)
	}
	if all, rep := count(0); all != 1000 || rep == 0 {
		t.Errorf("global database: %d tokens (%d seen twice), want 1000", all, rep)
	}
	if n, _ := count(acct.ID); n != all {
		t.Errorf("account tokens %d after second expiry, want %d", n, all)
	}
	// Totals stay: expiry forgets tokens, not messages.
	if tot, err := st.BayesTotals(ctx, 0); err != nil || tot.Spam != 150 {
		t.Errorf("global totals %+v, %v; want 150 spam", tot, err)
	}
}
