package ban

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"gannet/lib/config"
	"gannet/lib/listen"
)

// maxTracked bounds the keys (addresses, senders, domains) a Limiter keeps
// per kind; past it, entries whose windows have ended are dropped, and if
// none has, new keys go uncounted until some do.
const maxTracked = 100_000

// Limiter applies the [limits] section in one process: connections per
// address (at once and per window), for listen.Gate's Admit hook, and
// messages per envelope sender and per recipient domain for smtpd. Its
// counts are in memory, per process. It is safe for concurrent use.
type Limiter struct {
	cfg config.Limits
	// Now is the clock; nil means time.Now (for tests).
	Now func() time.Time
	// Exempt, when set, reports the client addresses no limit applies
	// to: Start makes it the ban allow-list (loopback by default), as
	// Postfix exempts $mynetworks from anvil's limits.
	Exempt func(ip netip.Addr) bool

	mu      sync.Mutex
	open    map[netip.Addr]int
	conns   windows[netip.Addr]
	senders windows[string]
	domains windows[string]
}

// NewLimiter returns a Limiter with the [limits] configuration cfg.
func NewLimiter(cfg config.Limits) *Limiter {
	return &Limiter{cfg: cfg, open: make(map[netip.Addr]int)}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Admit reports whether one more connection from remote may open now, and
// counts it; release gives its place back when it closes. Connections over
// a Unix socket are not limited. It is the shape of listen.Gate's Admit.
func (l *Limiter) Admit(remote net.Addr) (release func(), ok bool) {
	ip := listen.RemoteIP(remote)
	if !ip.IsValid() || l.exempt(ip) {
		return func() {}, true
	}
	ip = limitKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if max := l.cfg.ConnectionsPerIP; max > 0 && l.open[ip] >= max {
		return nil, false
	}
	if rate := l.cfg.ConnectionRate; rate > 0 && !l.conns.take(ip, rate, l.cfg.ConnectionWindow.Duration, l.now()) {
		return nil, false
	}
	if l.cfg.ConnectionsPerIP <= 0 {
		return func() {}, true
	}
	if len(l.open) >= maxTracked && l.open[ip] == 0 {
		return func() {}, true // too many addresses to follow: let it be
	}
	l.open[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[ip]--; l.open[ip] <= 0 {
				delete(l.open, ip)
			}
		})
	}, true
}

// limitKey is what connections are counted under: the address, or for
// IPv6 its /64, which one host usually holds whole.
func limitKey(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// exempt reports whether no limit applies to ip.
func (l *Limiter) exempt(ip netip.Addr) bool {
	return l.Exempt != nil && l.Exempt(ip)
}

// AllowSender counts one message from the envelope sender ("" is the null
// sender), sent by the client at remote, and reports whether it is within
// limits.messages_per_sender.
func (l *Limiter) AllowSender(remote net.Addr, sender string) bool {
	max := l.cfg.MessagesPerSender
	if max <= 0 || l.exempt(listen.RemoteIP(remote)) {
		return true
	}
	if sender == "" {
		sender = "<>"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.senders.take(strings.ToLower(sender), max, l.cfg.MessageWindow.Duration, l.now())
}

// AllowDomain counts one message to the recipient domain, sent by the
// client at remote, and reports whether it is within
// limits.messages_per_domain.
func (l *Limiter) AllowDomain(remote net.Addr, domain string) bool {
	max := l.cfg.MessagesPerDomain
	if max <= 0 || l.exempt(listen.RemoteIP(remote)) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.domains.take(strings.ToLower(domain), max, l.cfg.MessageWindow.Duration, l.now())
}

// window is a fixed-window counter.
type window struct {
	end   time.Time
	count int
}

// windows counts events per key in fixed windows.
type windows[K comparable] struct {
	m map[K]*window
	// pruned is when ended windows were last dropped; a full map is
	// swept at most once a second, so a flood of new keys costs little.
	pruned time.Time
}

// take counts one event for k and reports whether it is within max per
// length; a refused event is not counted.
func (ws *windows[K]) take(k K, max int, length time.Duration, now time.Time) bool {
	if ws.m == nil {
		ws.m = make(map[K]*window)
	}
	w := ws.m[k]
	if w == nil || !now.Before(w.end) {
		if w == nil && len(ws.m) >= maxTracked {
			if now.Sub(ws.pruned) >= time.Second {
				ws.pruned = now
				for key, old := range ws.m {
					if !now.Before(old.end) {
						delete(ws.m, key)
					}
				}
			}
			if len(ws.m) >= maxTracked {
				return true
			}
		}
		w = &window{end: now.Add(length)}
		ws.m[k] = w
	}
	if w.count >= max {
		return false
	}
	w.count++
	return true
}

// SMTPGuard joins a Guard and a Limiter into the hooks smtpd takes
// (lib/smtp's Guard interface): failures and abuse go to the Guard, the
// message limits to the Limiter. Both must be set.
type SMTPGuard struct {
	*Guard
	*Limiter
}
