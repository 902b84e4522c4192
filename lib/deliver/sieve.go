package deliver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gannet/lib/reply"
	"gannet/lib/sieve"
	"gannet/lib/store"
)

// SieveOptions configure SieveFilter.
type SieveOptions struct {
	Store store.Store
	// Hostname is the environment's "host" and the domain of vacation
	// Message-IDs.
	Hostname string
	// Limits bound each run.
	Limits sieve.Limits
	// Global loads a global script for include :global; nil: none.
	// GlobalDir makes one from [sieve] global_dir. A global script runs
	// with the rights of the user's script that includes it (the same
	// Query).
	Global func(name string) ([]byte, error)
	// Query runs vnd.gannet.query's queries for the users' scripts. It
	// must not reach the store: users write these scripts, and a query
	// could read other accounts' mail and credentials. Give it
	// lib/sievequery.Personal ([sieve] query_database only). Nil: every
	// query fails with ErrNoQueryDatabase (the message is kept).
	Query func(ctx context.Context, query string, args []string) (string, error)
	// SpamThreshold maps X-Spam-Score to spamtest's 1..10 (the score at
	// the threshold is 6, twice the threshold 10).
	SpamThreshold float64
	// OnEnqueue is told when a redirect, vacation reply or notification
	// was queued (queued's wake-up).
	OnEnqueue func()
	Log       *slog.Logger
}

// SieveFilter is the delivery filter that runs the account's active Sieve
// script (RFC 5228): keep and fileinto (several copies allowed, with
// imap4flags' flags and :create), discard, redirect (queued; the local
// copy is kept only with :copy or another keep/fileinto), reject and
// ereject (refused with 550 5.7.1 and the reason: a bounce, or the SMTP
// reply when smtpd delivers directly), vacation replies and mailto
// notifications (queued with the null sender), and editheader changes.
// include :global loads SieveOptions.Global's scripts, and Gannet's
// vnd.gannet.query runs through SieveOptions.Query, which must not reach
// the store (see there). A script that fails to compile or run (a query
// refused included) falls back to implicit keep (RFC 5228 section
// 2.10.6) and is logged.
func SieveFilter(o SieveOptions) Filter {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	f := &sieveFilter{o: o, cache: map[int64]*cachedScript{}}
	return f.filter
}

type sieveFilter struct {
	o     SieveOptions
	mu    sync.Mutex
	cache map[int64]*cachedScript
}

type cachedScript struct {
	sum    [32]byte
	script *sieve.Script
	// globals are the sums of the global scripts the script included.
	globals map[string][32]byte
}

// ErrNoQueryDatabase is the run-time error of a user's query when [sieve]
// query_database is not set.
var ErrNoQueryDatabase = errors.New("no query database is configured ([sieve] query_database); users' scripts may not query the mail store")

// validGlobalName reports whether name is fit for a file name in the
// global scripts' directory: no path separator, not hidden.
func validGlobalName(name string) bool {
	return name != "" && !strings.HasPrefix(name, ".") && !strings.ContainsAny(name, "/\\\x00")
}

// GlobalDir returns a SieveOptions.Global that loads dir/NAME.sieve, at
// most maxSize bytes. A missing file matches sieve.ErrNotFound.
func GlobalDir(dir string, maxSize int64) func(name string) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = int64(sieve.DefaultLimits.MaxScriptSize)
	}
	return func(name string) ([]byte, error) {
		if !validGlobalName(name) {
			return nil, fmt.Errorf("global script %q: invalid name: %w", name, sieve.ErrNotFound)
		}
		path := filepath.Join(dir, name+".sieve")
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("global script %q: %w", name, sieve.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("global script %q: %w", name, err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
		if err != nil {
			return nil, fmt.Errorf("global script %q: %w", name, err)
		}
		if int64(len(data)) > maxSize {
			return nil, fmt.Errorf("global script %q: larger than %d bytes", name, maxSize)
		}
		return data, nil
	}
}

// script returns the account's active script compiled, nil when it has
// none. Compiled scripts are kept while the text of the account's scripts
// (the active one and those it may include) stays the same.
func (f *sieveFilter) script(ctx context.Context, acct *store.Account) (*sieve.Script, error) {
	all, err := f.o.Store.ListSieveScripts(ctx, acct.ID)
	if err != nil {
		return nil, err
	}
	var active *store.SieveScript
	h := sha256.New()
	for i := range all {
		if all[i].Active {
			active = &all[i]
		}
		fmt.Fprintf(h, "%d:%s\x00%d:%s\x00%t\x00", len(all[i].Name), all[i].Name, len(all[i].Content), all[i].Content, all[i].Active)
	}
	if active == nil {
		return nil, nil
	}
	var sum [32]byte
	h.Sum(sum[:0])
	f.mu.Lock()
	c := f.cache[acct.ID]
	f.mu.Unlock()
	if c != nil && c.sum == sum && f.globalsSame(c.globals) {
		return c.script, nil
	}
	globals := map[string][32]byte{}
	opt := &sieve.Options{Limits: f.o.Limits, Include: func(name string, global bool) ([]byte, error) {
		if global {
			if f.o.Global == nil {
				return nil, fmt.Errorf("global script %q: %w", name, sieve.ErrNotFound)
			}
			src, err := f.o.Global(name)
			if err == nil {
				globals[name] = sha256.Sum256(src)
			}
			return src, err
		}
		for _, s := range all {
			if s.Name == name {
				return []byte(s.Content), nil
			}
		}
		return nil, fmt.Errorf("script %q: %w", name, sieve.ErrNotFound)
	}}
	compiled, err := sieve.Compile([]byte(active.Content), opt)
	if err != nil {
		return nil, fmt.Errorf("script %q: %w", active.Name, err)
	}
	f.mu.Lock()
	if len(f.cache) > 10000 {
		clear(f.cache)
	}
	f.cache[acct.ID] = &cachedScript{sum: sum, script: compiled, globals: globals}
	f.mu.Unlock()
	return compiled, nil
}

// globalsSame reports whether the global scripts a cached script included
// are unchanged (an administrator may edit global_dir at any time).
func (f *sieveFilter) globalsSame(globals map[string][32]byte) bool {
	for name, sum := range globals {
		src, err := f.o.Global(name)
		if err != nil || sha256.Sum256(src) != sum {
			return false
		}
	}
	return true
}

func (f *sieveFilter) filter(ctx context.Context, d *Delivery) error {
	script, err := f.script(ctx, d.Account)
	if err != nil {
		f.o.Log.Warn("sieve: script not usable; keeping the message", "account", d.Account.Address, "err", err)
		return nil
	}
	if script == nil {
		return nil
	}
	env := &sieve.Env{
		Message:   d.Raw,
		From:      d.Sender,
		To:        d.Recipient,
		OrigTo:    d.OriginalRecipient,
		User:      d.Account.Address,
		Mailboxes: &sieveMailboxes{st: f.o.Store, acct: d.Account.ID},
		Tracker:   &sieveTracker{st: f.o.Store, acct: d.Account.ID},
		SpamTest: func(ctx context.Context) (sieve.Score, error) {
			return spamScore(d.Raw, f.o.SpamThreshold), nil
		},
		Environment: map[string]string{"domain": domainOf(d.Account.Address), "host": f.o.Hostname, "phase": "during"},
		Query:       f.o.Query,
	}
	if env.Query == nil {
		env.Query = func(context.Context, string, []string) (string, error) { return "", ErrNoQueryDatabase }
	}
	out, err := script.Run(ctx, env)
	if err != nil {
		f.o.Log.Warn("sieve: run failed; keeping the message", "account", d.Account.Address, "err", err)
		return nil
	}
	return f.apply(ctx, d, out)
}

// apply carries out a run's outcome on the delivery.
func (f *sieveFilter) apply(ctx context.Context, d *Delivery, out *sieve.Outcome) error {
	if out.Message != nil {
		d.Raw, d.Parsed = out.Message, nil
	}
	var filings []Filing
	var queue []store.NewQueueEntry
	for _, a := range out.Actions {
		switch a := a.(type) {
		case sieve.Keep:
			filings = append(filings, Filing{Mailbox: d.Mailbox, Flags: mergeFlags(d.Flags, a.Flags)})
		case sieve.FileInto:
			name := a.Mailbox
			if a.SpecialUse != "" {
				if mb, err := f.o.Store.GetMailboxBySpecialUse(ctx, d.Account.ID, a.SpecialUse); err == nil {
					name = mb.Name
				}
			}
			filings = append(filings, Filing{Mailbox: name, Flags: mergeFlags(d.Flags, a.Flags), Create: a.Create})
		case sieve.Discard:
		case sieve.Reject:
			// RFC 5429 section 2.1: the reason goes back to the sender.
			return reply.New(550, "5.7.1", "sieve", "Rejected: "+oneLine(a.Reason))
		case sieve.Redirect:
			raw := d.Raw
			if a.Message != nil {
				raw = a.Message
			}
			// The engine skips a redirect back to a recipient this header
			// names (a loop between two accounts' scripts).
			raw = append([]byte("X-Sieve-Redirected-From: <"+oneLine(d.Account.Address)+">\r\n"), stripReturnPath(raw)...)
			rcpt := store.QueueRecipient{Address: a.Address, ORcpt: "rfc822;" + d.Recipient}
			if a.Notify != "" {
				rcpt.Notify = strings.Split(strings.ToUpper(a.Notify), ",")
			}
			// RFC 5228 section 4.2: the envelope sender stays.
			queue = append(queue, store.NewQueueEntry{Sender: d.Sender, Recipients: []store.QueueRecipient{rcpt}, Raw: raw, DSNRet: strings.ToUpper(a.Ret)})
		case sieve.Vacation:
			// RFC 5230 section 5.1: the reply goes with the null sender.
			queue = append(queue, store.NewQueueEntry{Recipients: []store.QueueRecipient{{Address: a.To}}, Raw: a.Message})
		case sieve.Notify:
			if m := f.mailtoNotification(d, a); m != nil {
				queue = append(queue, *m)
			}
		}
	}
	if len(queue) > 0 {
		if _, err := f.o.Store.Enqueue(ctx, queue); err != nil {
			return reply.Wrap(err, 451, "4.3.0", "sieve", "temporary local problem, try again later")
		}
		if f.o.OnEnqueue != nil {
			f.o.OnEnqueue()
		}
	}
	if len(filings) == 0 {
		d.Discard = true
		return nil
	}
	d.Mailbox, d.Flags, d.Create = filings[0].Mailbox, filings[0].Flags, filings[0].Create
	d.Also = append(d.Also, filings[1:]...)
	return nil
}

// mailtoNotification builds the message of an enotify mailto: notification
// (RFC 5436), or nil for another method.
func (f *sieveFilter) mailtoNotification(d *Delivery, n sieve.Notify) *store.NewQueueEntry {
	to, ok := strings.CutPrefix(n.Method, "mailto:")
	if !ok {
		f.o.Log.Info("sieve: notification method not supported", "account", d.Account.Address, "method", n.Method)
		return nil
	}
	if i := strings.IndexByte(to, '?'); i >= 0 {
		to = to[:i]
	}
	if to == "" || strings.ContainsAny(to, "\r\n<>") {
		return nil
	}
	from := n.From
	if from == "" {
		from = d.Account.Address
	}
	text := n.Message
	if text == "" {
		text = "New mail for " + d.Account.Address
	}
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.notify@%s>\r\nAuto-Submitted: auto-notified\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		oneLine(from), oneLine(to), oneLine(text), time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), f.o.Hostname, text)
	// RFC 5436 section 2.7: sent with the null sender.
	return &store.NewQueueEntry{Recipients: []store.QueueRecipient{{Address: to}}, Raw: []byte(msg)}
}

// mergeFlags adds the script's flags to those the delivery had.
func mergeFlags(base, add []string) []string {
	out := append([]string(nil), base...)
	for _, f := range add {
		found := false
		for _, b := range out {
			if strings.EqualFold(b, f) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, f)
		}
	}
	return out
}

// oneLine keeps a text fit for a header or a reply line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}

// stripReturnPath removes the Return-Path the delivery put on top: a
// redirected copy gets its own at its final delivery.
func stripReturnPath(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("Return-Path:")) {
		if i := bytes.Index(raw, []byte("\r\n")); i >= 0 {
			return raw[i+2:]
		}
	}
	return raw
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// spamScore reads the spam filter's X-Spam-Score for spamtest (RFC 5235
// section 3.2: 1 is certainly not spam, 10 certainly spam).
func spamScore(raw []byte, threshold float64) sieve.Score {
	hdr := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		hdr = raw[:i+2]
	}
	for _, line := range bytes.Split(hdr, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(string(name), "X-Spam-Score") {
			continue
		}
		score, err := strconv.ParseFloat(strings.TrimSpace(string(value)), 64)
		if err != nil {
			break
		}
		if threshold <= 0 {
			threshold = 5
		}
		// 0 maps to 1, the threshold to 6, twice the threshold to 10.
		v := 1 + int(score/threshold*5)
		v = max(1, min(10, v))
		pct := int(score / (2 * threshold) * 100)
		return sieve.Score{Tested: true, Value: v, Percent: max(0, min(100, pct))}
	}
	return sieve.Score{}
}

// sieveMailboxes answers the mailbox, special-use and mailboxid tests.
type sieveMailboxes struct {
	st   store.Store
	acct int64
}

func (m *sieveMailboxes) MailboxExists(ctx context.Context, name string) (bool, error) {
	_, err := m.st.GetMailbox(ctx, m.acct, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (m *sieveMailboxes) SpecialUse(ctx context.Context, name string) ([]string, error) {
	mb, err := m.st.GetMailbox(ctx, m.acct, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if mb.SpecialUse == "" {
		return []string{}, nil
	}
	return strings.Fields(mb.SpecialUse), nil
}

func (m *sieveMailboxes) SpecialUseMailbox(ctx context.Context, use string) (string, error) {
	mb, err := m.st.GetMailboxBySpecialUse(ctx, m.acct, use)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return mb.Name, nil
}

func (m *sieveMailboxes) MailboxID(ctx context.Context, id string) (string, error) {
	mbs, err := m.st.ListMailboxes(ctx, m.acct)
	if err != nil {
		return "", err
	}
	for _, mb := range mbs {
		if store.MailboxObjectID(mb.ID) == id {
			return mb.Name, nil
		}
	}
	return "", nil
}

// sieveTracker backs duplicate and vacation with the store.
type sieveTracker struct {
	st   store.Store
	acct int64
}

func (t *sieveTracker) Seen(ctx context.Context, key string, period time.Duration) (bool, error) {
	return t.st.SieveSeen(ctx, t.acct, key, time.Now(), period)
}
