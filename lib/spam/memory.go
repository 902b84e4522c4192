package spam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"gannet/lib/config"
	"gannet/lib/msgauth"
	"gannet/lib/store"
)

// Memory is what the filter learns as mail passes: verdicts per sender
// (reputation), greylisting triplets and the Message-IDs accounts sent
// (trusted replies). Verdicts are gathered in memory and written in one
// transaction a second, so that recording them costs no commit per
// message. Run must be running for them to reach the store.
type Memory struct {
	st  store.SpamState
	cfg config.Spam
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]*store.ReputationDelta
}

// NewMemory returns a Memory over st.
func NewMemory(st store.SpamState, cfg config.Spam, log *slog.Logger) *Memory {
	if log == nil {
		log = slog.Default()
	}
	return &Memory{st: st, cfg: cfg, log: log, pending: map[string]*store.ReputationDelta{}}
}

// flushInterval is how often recorded verdicts are written.
const flushInterval = time.Second

// Run writes the recorded verdicts every second and prunes what is older
// than spam.reputation.retention once a day, until ctx ends (then it
// writes what is left).
func (m *Memory) Run(ctx context.Context) {
	flush := time.NewTicker(flushInterval)
	defer flush.Stop()
	prune := time.NewTicker(24 * time.Hour)
	defer prune.Stop()
	m.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			m.Flush(context.WithoutCancel(ctx))
			return
		case <-flush.C:
			m.Flush(ctx)
		case <-prune.C:
			m.prune(ctx)
		}
	}
}

func (m *Memory) prune(ctx context.Context) {
	if err := m.st.PruneSpamState(ctx, time.Now().Add(-m.cfg.Reputation.Retention.Duration)); err != nil && ctx.Err() == nil {
		m.log.Warn("pruning spam state failed", "err", err)
	}
}

// Flush writes the verdicts recorded so far.
func (m *Memory) Flush(ctx context.Context) {
	m.mu.Lock()
	if len(m.pending) == 0 {
		m.mu.Unlock()
		return
	}
	deltas := make([]store.ReputationDelta, 0, len(m.pending))
	for _, d := range m.pending {
		deltas = append(deltas, *d)
	}
	m.pending = map[string]*store.ReputationDelta{}
	m.mu.Unlock()
	if err := m.st.AddReputation(ctx, deltas); err != nil {
		m.log.Warn("recording sender reputation failed", "keys", len(deltas), "err", err)
	}
}

// ReputationKeys returns the keys a message's sender is known by: the
// client IP and its network (/24, IPv6 /64), the sender's domain and
// address (From, else the envelope sender). An authenticated submission
// has none.
func ReputationKeys(env Envelope, from string) []string {
	if env.Authenticated != "" {
		return nil
	}
	var keys []string
	if ip := env.ClientIP.Unmap(); ip.IsValid() && !ip.IsLoopback() {
		bits := 24
		if ip.Is6() {
			bits = 64
		}
		p, _ := ip.Prefix(bits)
		keys = append(keys, "ip:"+ip.String(), "net:"+p.String())
	}
	addr := strings.ToLower(from)
	if addr == "" {
		addr = strings.ToLower(env.MailFrom)
	}
	if at := strings.LastIndexByte(addr, '@'); at > 0 && at < len(addr)-1 {
		keys = append(keys, "domain:"+msgauth.OrganizationalDomain(addr[at+1:]), "addr:"+addr)
	}
	return keys
}

// Record counts a verdict against the sender of m.
func (m *Memory) Record(msg *Message, spam bool) {
	if m == nil || !m.cfg.Reputation.Enabled {
		return
	}
	keys := ReputationKeys(msg.Envelope, msg.From)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		d := m.pending[k]
		if d == nil {
			d = &store.ReputationDelta{Key: k}
			m.pending[k] = d
		}
		if spam {
			d.Spam++
		} else {
			d.Ham++
		}
	}
}

// RecordSent remembers the Message-ID of a message an account sent, for
// trusted replies.
func (m *Memory) RecordSent(ctx context.Context, accountID int64, messageID string) error {
	if m == nil || !m.cfg.TrustedReplies.Enabled {
		return nil
	}
	id := strings.Trim(strings.TrimSpace(messageID), "<>")
	if id == "" || len(id) > 998 {
		return nil
	}
	return m.st.AddSentMessageIDs(ctx, accountID, []string{id}, time.Now())
}

// Greylist decides on one (client, sender, recipient) triplet: nil to
// accept, ErrGreylisted to answer 451 4.7.1. The caller has already
// exempted authenticated clients and relay networks.
func (m *Memory) Greylist(ctx context.Context, client netip.Addr, sender, rcpt string) error {
	g := m.cfg.Greylist
	if !g.Enabled {
		return nil
	}
	ip := client.Unmap()
	if !ip.IsValid() {
		return nil
	}
	for _, n := range g.AllowNetworks {
		if p, err := netip.ParsePrefix(n); err == nil && p.Contains(ip) {
			return nil
		}
		if a, err := netip.ParseAddr(n); err == nil && a == ip {
			return nil
		}
	}
	s := strings.ToLower(sender)
	for _, a := range g.AllowSenders {
		a = strings.ToLower(a)
		if s == a || strings.HasPrefix(a, "@") && strings.HasSuffix(s, a) {
			return nil
		}
	}
	bits := 24
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	sum := sha256.Sum256([]byte(p.String() + "\x00" + s + "\x00" + strings.ToLower(rcpt)))
	pass, err := m.st.Greylist(ctx, hex.EncodeToString(sum[:16]), time.Now(), g.Delay.Duration, g.Expire.Duration)
	if err != nil {
		return fmt.Errorf("greylisting: %w", err)
	}
	if !pass {
		return ErrGreylisted
	}
	return nil
}

// ErrGreylisted is Greylist's refusal.
var ErrGreylisted = fmt.Errorf("greylisted")

// IsTrap reports whether addr is one of spam.traps.
func (m *Memory) IsTrap(addr string) bool {
	if m == nil {
		return false
	}
	a := strings.ToLower(addr)
	for _, t := range m.cfg.Traps {
		if t == a {
			return true
		}
	}
	return false
}

func init() {
	register("reputation", 50, false, func(ctx context.Context, d Deps) (Checker, error) {
		if d.Store == nil || !d.Config.Spam.Reputation.Enabled {
			return nil, nil
		}
		return &reputationChecker{st: d.Store, cfg: d.Config.Spam.Reputation}, nil
	})
	register("trusted_replies", 51, false, func(ctx context.Context, d Deps) (Checker, error) {
		if d.Store == nil || !d.Config.Spam.TrustedReplies.Enabled {
			return nil, nil
		}
		return &trustedReplies{st: d.Store, score: d.Config.Spam.TrustedReplies.Score}, nil
	})
}

// reputationChecker scores a message by the verdicts on its sender's past
// messages: REPUTATION_BAD from the worst key, REPUTATION_GOOD when every
// key that counts is good.
type reputationChecker struct {
	st  store.SpamState
	cfg config.Reputation
}

func (c *reputationChecker) Name() string { return "reputation" }

func (c *reputationChecker) Check(ctx context.Context, m *Message, r *Result) error {
	keys := ReputationKeys(m.Envelope, m.From)
	if len(keys) == 0 {
		return nil
	}
	counts, err := c.st.Reputation(ctx, keys)
	if err != nil {
		return err
	}
	worst, worstKey, good, counted := -1.0, "", true, 0
	for _, k := range keys {
		n, ok := counts[k]
		total := n.Spam + n.Ham
		if !ok || total < int64(c.cfg.MinMessages) {
			continue
		}
		counted++
		ratio := float64(n.Spam) / float64(total)
		if ratio > worst {
			worst, worstKey = ratio, fmt.Sprintf("%s: %d spam, %d ham", k, n.Spam, n.Ham)
		}
		if ratio > 0.1 {
			good = false
		}
	}
	switch {
	case counted == 0:
	case worst >= 0.5:
		r.Add("REPUTATION_BAD", c.cfg.Score*(worst-0.5)*2, worstKey)
	case good:
		r.Add("REPUTATION_GOOD", -c.cfg.Score/2, worstKey)
	}
	if counted > 0 {
		r.SetFact("reputation", worst)
	}
	return nil
}

// trustedReplies tags a reply to a message the account sent.
type trustedReplies struct {
	st    store.SpamState
	score float64
}

func (c *trustedReplies) Name() string { return "trusted_replies" }

func (c *trustedReplies) Check(ctx context.Context, m *Message, r *Result) error {
	ids := make([]string, 0, len(m.References)+1)
	for _, id := range append([]string{m.InReplyTo}, m.References...) {
		if id = strings.Trim(strings.TrimSpace(id), "<>"); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || m.Envelope.Authenticated != "" {
		return nil
	}
	ok, err := c.st.SentMessageID(ctx, m.Envelope.AccountID, ids)
	if err != nil {
		return err
	}
	if ok {
		r.Add("TRUSTED_REPLY", c.score, "a reply to a message sent from here")
		r.SetFact("trusted_reply", 1)
	}
	return nil
}
