// Package ban is Gannet's auto-ban: it counts authentication failures and
// abuse in the store, so that every daemon of the suite counts together,
// bans an address or locks a login when its count crosses a threshold, and
// answers "is this address banned?" and "is this login locked?" from a
// cache in memory that the change feed (lib/notify) keeps fresh.
//
// An address that is banned is refused at accept, before any greeting
// (listen.Gate, with Guard.AllowAddr), and its open sessions are closed. A
// login that is locked (too many failures for it, from any number of
// addresses: a distributed attack) has its password refused whatever the
// address, while its app passwords and its open sessions keep working
// (auth.Authenticator.Locked, with Guard.LoginLocked).
//
// Networks on the allow-list, ban.allow in the configuration and the
// entries banctl adds, are never banned. Bans expire after ban.ban_for (0:
// never); banctl lists, adds and lifts them. Every change is announced on the
// change feed with notify.BansAccountID, and every process reloads its cache
// within moments.
package ban

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"gannet/lib/config"
	"gannet/lib/directory"
	"gannet/lib/listen"
	"gannet/lib/notify"
	"gannet/lib/store"
)

// The events counted, one counter each per address or login.
const (
	EventAuth     = "auth"     // a failed authentication (any protocol)
	EventRcpt     = "rcpt"     // an unknown recipient or a relay attempt (SMTP)
	EventProtocol = "protocol" // a command refused before login
	EventScanner  = "scanner"  // an HTTP request for a scanner's path
)

// maxLoginKey bounds the login names counted (RFC 5321's path limit).
const maxLoginKey = 320

// opTimeout bounds the store work of one count or refresh.
const opTimeout = 5 * time.Second

// refreshInterval is how often the cache is reloaded even without news on
// the change feed (a lost datagram, a process without the feed).
const refreshInterval = 30 * time.Second

// Publisher announces changes on the change feed; *notify.Publisher is one.
type Publisher interface {
	Publish(ev notify.Event)
}

// Feed is the change feed a Guard listens to; *notify.Listener is one.
type Feed interface {
	Subscribe(accountID int64) (<-chan notify.Event, func())
}

// Guard counts failures, makes bans and answers ban questions. Make one
// per process with New, Load it, and Watch the change feed. It is safe for
// concurrent use.
type Guard struct {
	st  store.Bans
	cfg config.Ban
	log *slog.Logger
	// Publisher, when set, announces the bans this Guard makes.
	Publisher Publisher
	// Now is the clock; nil means time.Now (for tests).
	Now func() time.Time

	allow []netip.Prefix // ban.allow

	mu       sync.RWMutex
	loaded   bool
	exact    map[netip.Addr]store.Ban // bans of single addresses
	nets     []netBan                 // bans of networks
	allowed  []netip.Prefix           // allow entries in the store
	logins   map[string]store.Ban     // locked logins, by lower-case key
	nextEnd  time.Time                // earliest expiry in the cache
	onChange []func()
}

// netBan is a ban of a network.
type netBan struct {
	p netip.Prefix
	b store.Ban
}

// New returns a Guard over st with the [ban] configuration cfg. Its cache
// is empty until Load.
func New(st store.Bans, cfg config.Ban, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.Default()
	}
	return &Guard{st: st, cfg: cfg, log: log.With("component", "ban"), allow: cfg.AllowPrefixes()}
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// OnChange registers fn to run after each reload of the cache that may have
// added bans (such as closing the sessions of addresses just banned). fn
// runs in the goroutine that reloaded and must not call OnChange.
func (g *Guard) OnChange(fn func()) {
	g.mu.Lock()
	g.onChange = append(g.onChange, fn)
	g.mu.Unlock()
}

// Load reloads the cache from the store.
func (g *Guard) Load(ctx context.Context) error {
	now := g.now()
	bans, err := g.st.ListBans(ctx, now)
	if err != nil {
		return fmt.Errorf("ban: loading bans: %w", err)
	}
	exact := make(map[netip.Addr]store.Ban)
	var nets []netBan
	var allowed []netip.Prefix
	logins := make(map[string]store.Ban)
	var next time.Time
	for _, b := range bans {
		if !b.Expires.IsZero() && (next.IsZero() || b.Expires.Before(next)) {
			next = b.Expires
		}
		switch b.Kind {
		case store.BanLogin:
			if !b.Allow {
				logins[strings.ToLower(b.Key)] = b
			}
		case store.BanIP:
			p, err := ParseNetwork(b.Key)
			if err != nil {
				g.log.Warn("ignoring a ban with a bad key", "key", b.Key, "err", err)
				continue
			}
			switch {
			case b.Allow:
				allowed = append(allowed, p)
			case p.IsSingleIP():
				exact[p.Addr()] = b
			default:
				nets = append(nets, netBan{p, b})
			}
		}
	}
	g.mu.Lock()
	g.exact, g.nets, g.allowed, g.logins, g.nextEnd, g.loaded = exact, nets, allowed, logins, next, true
	hooks := g.onChange
	g.mu.Unlock()
	for _, fn := range hooks {
		fn()
	}
	return nil
}

// Watch keeps the cache fresh until ctx ends: it reloads on every bans
// event (and resync) on feed, when a ban in the cache expires, and every
// 30 seconds in any case. feed may be nil (then only the timer works).
func (g *Guard) Watch(ctx context.Context, feed Feed) {
	var events <-chan notify.Event
	if feed != nil {
		ch, cancel := feed.Subscribe(notify.BansAccountID)
		defer cancel()
		events = ch
	}
	for {
		wait := refreshInterval
		g.mu.RLock()
		if !g.nextEnd.IsZero() {
			wait = min(wait, max(g.nextEnd.Sub(g.now()), 0)+10*time.Millisecond)
		}
		g.mu.RUnlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case _, ok := <-events:
			t.Stop()
			if !ok {
				events = nil
			}
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, opTimeout)
		if err := g.Load(lctx); err != nil && ctx.Err() == nil {
			g.log.Warn("reloading bans failed", "err", err)
		}
		cancel()
	}
}

// Allowlisted reports whether ip is on the allow-list (configuration or
// store). An invalid address (a Unix socket's client) counts as allowed.
func (g *Guard) Allowlisted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, p := range g.allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// IPBan returns the ban in force on ip, if any, allow-list aside.
func (g *Guard) IPBan(ip netip.Addr) (store.Ban, bool) {
	if !ip.IsValid() {
		return store.Ban{}, false
	}
	ip = ip.Unmap()
	now := g.now()
	live := func(b store.Ban) bool { return b.Expires.IsZero() || b.Expires.After(now) }
	g.mu.RLock()
	defer g.mu.RUnlock()
	if b, ok := g.exact[ip]; ok && live(b) {
		return b, true
	}
	for _, n := range g.nets {
		if n.p.Contains(ip) && live(n.b) {
			return n.b, true
		}
	}
	return store.Ban{}, false
}

// AllowIP reports whether ip may connect: it is allow-listed or not banned.
func (g *Guard) AllowIP(ip netip.Addr) bool {
	if _, banned := g.IPBan(ip); !banned {
		return true
	}
	return g.Allowlisted(ip)
}

// AllowAddr is AllowIP for a connection's remote address, the shape of
// listen.Gate's Allow hook.
func (g *Guard) AllowAddr(remote net.Addr) bool {
	return g.AllowIP(listen.RemoteIP(remote))
}

// LoginKey returns the key a login name is counted and locked under: the
// normalised address when it is one, else the name in lower case; "" for a
// name not worth counting (empty, too long).
func LoginKey(username string) string {
	if username == "" || len(username) > 4*maxLoginKey {
		return ""
	}
	if addr, err := directory.Normalize(username); err == nil {
		return strings.ToLower(addr)
	}
	k := strings.ToLower(strings.TrimSpace(username))
	if k == "" || len(k) > maxLoginKey || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	return k
}

// locked reports whether the login key k is locked, without a word.
func (g *Guard) locked(k string) bool {
	g.mu.RLock()
	b, ok := g.logins[k]
	g.mu.RUnlock()
	return ok && (b.Expires.IsZero() || b.Expires.After(g.now()))
}

// LoginLocked reports whether the password of login (an account address,
// as auth.Authenticator passes it) is refused for now. It logs each refusal
// so that the account's owner can learn why.
func (g *Guard) LoginLocked(login string) bool {
	k := LoginKey(login)
	if k == "" {
		return false
	}
	if !g.locked(k) {
		return false
	}
	g.mu.RLock()
	b := g.logins[k]
	g.mu.RUnlock()
	until := "banctl unban"
	if !b.Expires.IsZero() {
		until = b.Expires.UTC().Format(time.RFC3339)
	}
	g.log.Warn("password login refused: login locked after repeated failures (app passwords still work)", "login", k, "reason", b.Reason, "until", until)
	return true
}

// AuthFailure counts a failed authentication from remote for username,
// against the address and against the login, and bans or locks them when
// they cross their thresholds. It is the shape of imap.Server's
// OnAuthFailure hook.
func (g *Guard) AuthFailure(remote net.Addr, username string) {
	if !g.cfg.Enabled {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ip := listen.RemoteIP(remote)
	g.countIP(ctx, ip, EventAuth, g.cfg.AuthFailures, g.cfg.AuthWindow.Duration, "authentication failures")
	if k := LoginKey(username); k != "" && g.cfg.LoginFailures > 0 {
		n, err := g.st.CountBanEvent(ctx, store.BanLogin, k, EventAuth, g.cfg.LoginWindow.Duration, g.now())
		if err != nil {
			g.log.Warn("counting a login failure", "login", k, "err", err)
			return
		}
		if n >= g.cfg.LoginFailures && !g.locked(k) {
			g.lockLogin(ctx, k, n)
		}
	}
}

// Abuse counts one abuse event (EventRcpt, EventProtocol, EventScanner)
// from remote and bans the address when it crosses its threshold.
func (g *Guard) Abuse(remote net.Addr, event string) {
	if !g.cfg.Enabled {
		return
	}
	var limit int
	var window time.Duration
	var what string
	switch event {
	case EventRcpt:
		limit, window, what = g.cfg.RcptFailures, g.cfg.RcptWindow.Duration, "unknown recipients or relay attempts"
	case EventProtocol:
		limit, window, what = g.cfg.ProtocolErrors, g.cfg.ProtocolWindow.Duration, "protocol errors before login"
	case EventScanner:
		limit, window, what = g.cfg.ScannerRequests, g.cfg.ScannerWindow.Duration, "requests for scanner paths"
	default:
		g.log.Warn("unknown abuse event", "event", event)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	g.countIP(ctx, listen.RemoteIP(remote), event, limit, window, what)
}

// countIP counts event for ip and bans ip when the count reaches limit.
func (g *Guard) countIP(ctx context.Context, ip netip.Addr, event string, limit int, window time.Duration, what string) {
	if limit <= 0 || !ip.IsValid() || g.Allowlisted(ip) {
		return
	}
	ip = ip.Unmap()
	n, err := g.st.CountBanEvent(ctx, store.BanIP, ip.String(), event, window, g.now())
	if err != nil {
		g.log.Warn("counting an event", "ip", ip, "event", event, "err", err)
		return
	}
	if n < limit {
		return
	}
	if _, banned := g.IPBan(ip); banned {
		return
	}
	reason := fmt.Sprintf("%d %s within %v", n, what, config.D(window))
	g.banIP(ctx, ip, reason)
}

// banIP bans ip for ban.ban_for, closes its sessions here and tells the
// other processes.
func (g *Guard) banIP(ctx context.Context, ip netip.Addr, reason string) {
	b := &store.Ban{Kind: store.BanIP, Key: ip.String(), Reason: reason}
	if d := g.cfg.BanFor.Duration; d > 0 {
		b.Expires = g.now().Add(d)
	}
	if err := g.st.PutBan(ctx, b); err != nil {
		g.log.Error("banning an address", "ip", ip, "err", err)
		return
	}
	g.log.Warn("address banned", "ip", ip, "reason", reason, "until", untilText(b.Expires))
	g.changed(ctx)
}

// lockLogin locks the password of login k.
func (g *Guard) lockLogin(ctx context.Context, k string, n int) {
	b := &store.Ban{Kind: store.BanLogin, Key: k,
		Reason: fmt.Sprintf("%d authentication failures within %v", n, g.cfg.LoginWindow)}
	if d := g.cfg.LoginLockFor.Duration; d > 0 {
		b.Expires = g.now().Add(d)
	}
	if err := g.st.PutBan(ctx, b); err != nil {
		g.log.Error("locking a login", "login", k, "err", err)
		return
	}
	g.log.Warn("login locked: its password is refused from every address (app passwords still work)", "login", k, "reason", b.Reason, "until", untilText(b.Expires))
	g.changed(ctx)
}

// changed reloads this process's cache and tells the others.
func (g *Guard) changed(ctx context.Context) {
	if err := g.Load(ctx); err != nil {
		g.log.Warn("reloading bans", "err", err)
	}
	if g.Publisher != nil {
		g.Publisher.Publish(notify.Event{AccountID: notify.BansAccountID})
	}
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// ParseNetwork reads an address or a CIDR network, as ban keys and
// allow-list entries are written; the result is masked and unmapped.
func ParseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped network shorter than /96", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q: %w", s, ErrNotNetwork)
}

// ErrNotNetwork is wrapped by ParseNetwork's errors.
var ErrNotNetwork = errors.New("not an address or CIDR network")

// ProtocolError counts a command refused before login from remote
// (EventProtocol); it is the shape of imap.Server's OnProtocolError.
func (g *Guard) ProtocolError(remote net.Addr) {
	g.Abuse(remote, EventProtocol)
}
