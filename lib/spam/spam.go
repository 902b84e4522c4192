// Package spam is Gannet's spam and phishing filter. A Filter runs a set of
// Checkers over one Message (parsed once, see NewMessage in features.go),
// each adding scored Tags to a Result; the rules of the configuration
// (rules.go) run last and may test the tags the others added. The Verdict
// says whether the message is spam (it goes to Junk) or is to be rejected,
// and gives the X-Spam-* header fields.
//
// The filter runs inside smtpd at the end of DATA, inside deliver, in spamc
// and in spamd; it reuses the SPF/DKIM/DMARC results smtpd already has
// (Envelope.Auth) and never checks twice.
package spam

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gannet/lib/msgauth"
)

// Envelope is what the SMTP session knew about a message.
type Envelope struct {
	// ClientIP is the SMTP client's address; invalid when unknown (spamc on
	// a message from a file).
	ClientIP netip.Addr
	// HELO is the name the client gave in HELO or EHLO.
	HELO string
	// RDNS is the client's host name by its reverse DNS, when no iprev
	// result in Auth says it (a milter's MTA, the Received fields); NoRDNS
	// says the client is known to have none.
	RDNS   string
	NoRDNS bool
	// MailFrom is the reverse-path without angle brackets, "" for <>.
	MailFrom string
	// Recipients are the envelope recipients.
	Recipients []string
	// Authenticated is the SASL login of an authenticated submission, "" for
	// an anonymous client.
	Authenticated string
	// Auth holds the SPF, DKIM, DMARC and ARC results when smtpd already
	// has them; nil when unknown (the filter does not check them itself).
	Auth *msgauth.Results
	// Quarantine is set when the sender's DMARC policy asks for the message
	// to be quarantined (msgauth's Verdict): the filter then adds
	// DMARC_QUARANTINE, scored at the spam threshold, so it goes to Junk.
	Quarantine bool
	// Trapped is set when the message was also sent to a spam trap: the
	// filter adds SPAM_TRAP, scored at the spam threshold.
	Trapped bool
	// AccountID is the local account the verdict is for (its Bayes model,
	// its thresholds, its sent mail for trusted replies); 0 for the global
	// model, as for a message to several accounts.
	AccountID int64
}

// Tag is one finding about a message: a name in upper case such as
// BAYES_99 or URIBL_BLOCKED, its score (positive toward spam, negative
// toward ham) and a short description for X-Spam-Result.
type Tag struct {
	Name   string
	Score  float64
	Detail string
}

// Result collects the tags the checkers add. It is safe for concurrent use.
type Result struct {
	mu   sync.Mutex
	tags []Tag
	// facts are named values a checker leaves for the rules (for example
	// "bayes" = spam probability 0..1); see Fact.
	facts map[string]float64
}

// Add records a tag. A tag added twice under the same name counts once,
// with the higher score.
func (r *Result) Add(name string, score float64, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.tags {
		if r.tags[i].Name == name {
			if score > r.tags[i].Score {
				r.tags[i] = Tag{name, score, detail}
			}
			return
		}
	}
	r.tags = append(r.tags, Tag{name, score, detail})
}

// Has reports whether a tag of that name was added.
func (r *Result) Has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tags {
		if t.Name == name {
			return true
		}
	}
	return false
}

// SetFact leaves a named number for the rules, such as "bayes" (the spam
// probability) or "dnsbl.zen" (the last octet of the answer).
func (r *Result) SetFact(name string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.facts == nil {
		r.facts = make(map[string]float64)
	}
	r.facts[name] = v
}

// Fact returns the named number and whether it was set.
func (r *Result) Fact(name string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.facts[name]
	return v, ok
}

// Tags returns the tags added so far, highest score first.
func (r *Result) Tags() []Tag {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.tags)
	slices.SortStableFunc(out, func(a, b Tag) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Checker is one part of the filter: Bayes, the DNS blocklists, phishing,
// the rules. Check looks at m and adds tags to r; it must be safe for
// concurrent use and return promptly when ctx ends. An error is logged and
// the other checks go on: a failing blocklist does not lose mail.
type Checker interface {
	// Name names the checker in logs.
	Name() string
	Check(ctx context.Context, m *Message, r *Result) error
}

// Remote is implemented by a Checker that waits on other servers (the DNS
// blocklists, Pyzor). Filter.Check runs those concurrently with the rest;
// the others, which never wait on the network, run one after the other on
// the caller's goroutine, cheaper than a goroutine each.
type Remote interface {
	Checker
	// Remote reports whether the checker waits on the network.
	Remote() bool
}

// isRemote reports whether c waits on the network.
func isRemote(c Checker) bool {
	r, ok := c.(Remote)
	return ok && r.Remote()
}

// Thresholds say what a score means.
type Thresholds struct {
	// Spam is the score from which a message is spam and goes to Junk.
	Spam float64
	// Reject is the score from which smtpd refuses it (550 5.7.1); zero or
	// below Spam means never.
	Reject float64
}

// Verdict is the filter's answer for one message.
type Verdict struct {
	Score float64
	Tags  []Tag
	// Spam is Score >= the spam threshold.
	Spam bool
	// Reject is Score >= the reject threshold.
	Reject     bool
	Thresholds Thresholds
}

// Filter runs the checkers. Of Checks, those that wait on the network
// (Remote) run at the same time as the others, which run one after the
// other; Last (the rules) runs after them all and sees their tags and
// facts.
type Filter struct {
	Checks []Checker
	Last   []Checker
	// Thresholds is the default when the caller gives none.
	Thresholds Thresholds
	Log        *slog.Logger
}

// Check classifies m. th nil means f.Thresholds.
func (f *Filter) Check(ctx context.Context, m *Message, th *Thresholds) *Verdict {
	log := f.Log
	if log == nil {
		log = slog.Default()
	}
	r := &Result{}
	var wg sync.WaitGroup
	for _, c := range f.Checks {
		if isRemote(c) {
			wg.Go(func() {
				if err := c.Check(ctx, m, r); err != nil {
					log.Warn("spam check failed", "check", c.Name(), "err", err)
				}
			})
		}
	}
	for _, c := range f.Checks {
		if !isRemote(c) {
			if err := c.Check(ctx, m, r); err != nil {
				log.Warn("spam check failed", "check", c.Name(), "err", err)
			}
		}
	}
	wg.Wait()
	for _, c := range f.Last {
		if err := c.Check(ctx, m, r); err != nil {
			log.Warn("spam check failed", "check", c.Name(), "err", err)
		}
	}
	t := f.Thresholds
	if th != nil {
		t = *th
	}
	if m.Envelope.Quarantine {
		r.Add("DMARC_QUARANTINE", t.Spam, "the sender's DMARC policy says quarantine")
	}
	if m.Envelope.Trapped {
		r.Add("SPAM_TRAP", t.Spam, "also sent to a spam trap")
	}
	v := &Verdict{Tags: r.Tags(), Thresholds: t}
	for _, tg := range v.Tags {
		v.Score += tg.Score
	}
	v.Score = roundScore(v.Score)
	v.Spam = v.Score >= t.Spam
	v.Reject = t.Reject > 0 && t.Reject >= t.Spam && v.Score >= t.Reject
	return v
}

func roundScore(s float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(s, 'f', 2, 64), 64)
	return v
}

// Header field names the filter writes. A message passing through is
// stripped of fields of these names first, so nobody can forge them.
const (
	HeaderStatus = "X-Spam-Status"
	HeaderScore  = "X-Spam-Score"
	HeaderResult = "X-Spam-Result"
	HeaderFlag   = "X-Spam-Flag"
)

// Fields returns the header fields of the verdict, each with its CRLF,
// folded under 78 columns:
//
//	X-Spam-Flag: YES                        (only for spam, as SpamAssassin)
//	X-Spam-Status: Yes, score=7.20 required=5.00
//	X-Spam-Score: 7.20
//	X-Spam-Result: BAYES_99=3.50 (Bayes spam probability 0.99),
//	 URIBL_DBL=2.50 (...), ...
func (v *Verdict) Fields() []byte {
	var b strings.Builder
	yes := "No"
	if v.Spam {
		yes = "Yes"
		b.WriteString(HeaderFlag + ": YES\r\n")
	}
	fmt.Fprintf(&b, "%s: %s, score=%.2f required=%.2f\r\n", HeaderStatus, yes, v.Score, v.Thresholds.Spam)
	fmt.Fprintf(&b, "%s: %.2f\r\n", HeaderScore, v.Score)
	line := HeaderResult + ":"
	if len(v.Tags) == 0 {
		line += " none"
	}
	for i, t := range v.Tags {
		item := fmt.Sprintf("%s=%.2f", t.Name, t.Score)
		if t.Detail != "" {
			item += " (" + sanitizeDetail(t.Detail) + ")"
		}
		if i < len(v.Tags)-1 {
			item += ","
		}
		if len(line)+1+len(item) > 76 && line != HeaderResult+":" {
			b.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + item
	}
	b.WriteString(line + "\r\n")
	return []byte(b.String())
}

// sanitizeDetail keeps a detail printable and short: it ends up in a header.
func sanitizeDetail(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '(' || r == ')' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}
