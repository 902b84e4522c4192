// Package directory resolves e-mail addresses to accounts for every
// protocol: exact accounts, aliases, groups, mailing lists, subaddresses
// (user+tag@domain) and per-domain catch-alls, with case-insensitive local
// parts and IDN domains. Lookups go through an S3-FIFO cache (lib/cache)
// whose entries expire after the configured TTL.
//
// It also holds the directory's administrative operations (adding domains,
// accounts, aliases, groups), which validate and normalise their input
// before it reaches the store.
package directory

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"gannet/lib/cache"
	"gannet/lib/config"
	"gannet/lib/store"
)

// Defaults for a zero config.Directory.
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = time.Minute
	// maxNegativeTTL bounds how long "no such address" is remembered: a
	// process does not hear of accounts another process (userctl) creates,
	// and a stale negative answer is a permanent SMTP rejection.
	maxNegativeTTL = 10 * time.Second
	// maxDepth bounds alias, group and list expansion.
	maxDepth = 10
)

// ErrTooDeep is returned when expanding an address nests aliases, groups or
// lists more than 10 levels deep.
var ErrTooDeep = errors.New("address expansion nested too deep")

// Directory answers address questions from a store through a cache. It is
// safe for concurrent use.
type Directory struct {
	st     store.Store
	cfg    config.Directory
	ttl    time.Duration
	negTTL time.Duration
	size   int
	caches atomic.Pointer[caches]
	now    func() time.Time
}

// caches are swapped whole by Invalidate.
type caches struct {
	domains *cache.Cache[string, domainEntry]
	addrs   *cache.Cache[string, addrEntry]
}

// domainEntry caches one domain lookup; dom is nil when the domain is not
// ours.
type domainEntry struct {
	dom     *store.Domain
	expires time.Time
}

// addrEntry caches what one exact address is in the store; all nil when it
// is nothing.
type addrEntry struct {
	acct    *store.Account
	alias   *store.Alias
	group   *store.Group
	expires time.Time
}

func (e addrEntry) empty() bool { return e.acct == nil && e.alias == nil && e.group == nil }

// New returns a Directory over st. Zero cfg.CacheSize and cfg.CacheTTL take
// DefaultCacheSize and DefaultCacheTTL; negative results are cached for at
// most 10 seconds.
func New(st store.Store, cfg config.Directory) *Directory {
	d := &Directory{st: st, cfg: cfg, now: time.Now}
	d.size = cfg.CacheSize
	if d.size <= 0 {
		d.size = DefaultCacheSize
	}
	d.ttl = cfg.CacheTTL.Duration
	if d.ttl <= 0 {
		d.ttl = DefaultCacheTTL
	}
	d.negTTL = min(d.ttl, maxNegativeTTL)
	d.Invalidate()
	return d
}

// Config returns the directory settings the Directory was made with.
func (d *Directory) Config() config.Directory { return d.cfg }

// Invalidate forgets every cached lookup, e.g. after the directory changed.
func (d *Directory) Invalidate() {
	// Domains are few; addresses share the rest.
	nd := max(d.size/16, 16)
	d.caches.Store(&caches{
		domains: cache.New[string, domainEntry](nd),
		addrs:   cache.New[string, addrEntry](d.size),
	})
}

// domain looks up a normalised domain name; nil, nil when it is not local.
func (d *Directory) domain(ctx context.Context, name string) (*store.Domain, error) {
	c := d.caches.Load()
	now := d.now()
	if e, ok := c.domains.Get(name); ok && now.Before(e.expires) {
		return e.dom, nil
	}
	dom, err := d.st.GetDomain(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.domains.Set(name, domainEntry{expires: now.Add(d.negTTL)})
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("directory: domain %s: %w", name, err)
	}
	c.domains.Set(name, domainEntry{dom: dom, expires: now.Add(d.ttl)})
	return dom, nil
}

// lookup finds what a normalised address is in the store.
func (d *Directory) lookup(ctx context.Context, addr string) (addrEntry, error) {
	c := d.caches.Load()
	now := d.now()
	if e, ok := c.addrs.Get(addr); ok && now.Before(e.expires) {
		return e, nil
	}
	var e addrEntry
	acct, err := d.st.GetAccount(ctx, addr)
	switch {
	case err == nil:
		e.acct = acct
	case !errors.Is(err, store.ErrNotFound):
		return e, fmt.Errorf("directory: account %s: %w", addr, err)
	}
	if e.acct == nil {
		alias, err := d.st.GetAlias(ctx, addr)
		switch {
		case err == nil:
			e.alias = alias
		case !errors.Is(err, store.ErrNotFound):
			return e, fmt.Errorf("directory: alias %s: %w", addr, err)
		}
	}
	if e.acct == nil && e.alias == nil {
		g, err := d.st.GetGroup(ctx, addr)
		switch {
		case err == nil:
			e.group = g
		case !errors.Is(err, store.ErrNotFound):
			return e, fmt.Errorf("directory: group %s: %w", addr, err)
		}
	}
	if e.empty() {
		e.expires = now.Add(d.negTTL)
	} else {
		e.expires = now.Add(d.ttl)
	}
	c.addrs.Set(addr, e)
	return e, nil
}

// IsLocalDomain reports whether the server is the final destination for
// domain (given in any case, as U-labels or A-labels).
func (d *Directory) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	name, err := NormalizeDomain(domain)
	if err != nil {
		return false, err
	}
	dom, err := d.domain(ctx, name)
	return dom != nil, err
}
