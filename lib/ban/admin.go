package ban

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"gannet/lib/config"
	"gannet/lib/notify"
	"gannet/lib/store"
)

// Admin is what banctl does: list, show, ban, unban and the allow-list,
// each change announced on the change feed so that running daemons apply
// it at once.
type Admin struct {
	Store store.Bans
	// Config is the [ban] section (its allow-list is shown, and warned
	// about).
	Config config.Ban
	// Publisher, when set, announces each change.
	Publisher Publisher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Entry is a ban or an allow-list entry as banctl shows it.
type Entry struct {
	Kind   store.BanKind  `json:"kind"`
	Key    string         `json:"key"`
	Reason string         `json:"reason,omitempty"`
	Since  time.Time      `json:"since,omitzero"`
	Until  time.Time      `json:"until,omitzero"` // zero: never
	Allow  bool           `json:"allow,omitempty"`
	Source string         `json:"source"` // "store" or "config"
	Counts map[string]int `json:"counts,omitempty"`
}

// Report is what banctl show prints about an address or a login.
type Report struct {
	Kind store.BanKind `json:"kind"`
	Key  string        `json:"key"`
	// Ban is the ban in force on the key itself, if any.
	Ban *Entry `json:"ban,omitempty"`
	// Networks are the bans of networks that hold the address.
	Networks []Entry `json:"networks,omitempty"`
	// Allowed are the allow-list entries that hold the address.
	Allowed []Entry `json:"allowed,omitempty"`
	// Counters are the open failure and abuse counters of the key.
	Counters []store.BanCounter `json:"counters"`
	// Refused says whether the daemons refuse it now: an address banned
	// and not allowed, or a login locked.
	Refused bool `json:"refused"`
}

// ErrNoEntry is returned by Unban and AllowRemove for a key without one.
var ErrNoEntry = errors.New("no such entry")

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Target reads a command-line argument: an address or CIDR network (kind
// ip, key in canonical form), or else a login name (kind login); login
// forces the latter.
func Target(arg string, login bool) (store.BanKind, string, error) {
	if !login {
		if p, err := ParseNetwork(arg); err == nil {
			return store.BanIP, prefixKey(p), nil
		}
	}
	k := LoginKey(arg)
	if k == "" {
		return "", "", fmt.Errorf("%q is neither an address, a CIDR network nor a login name", arg)
	}
	return store.BanLogin, k, nil
}

// prefixKey writes a single address without its length.
func prefixKey(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func entryOf(b store.Ban) Entry {
	return Entry{Kind: b.Kind, Key: b.Key, Reason: b.Reason, Since: b.Created, Until: b.Expires, Allow: b.Allow, Source: "store"}
}

// List returns the bans in force with their counters, or the allow-list
// (the configuration's entries first) when allow is set.
func (a *Admin) List(ctx context.Context, allow bool) ([]Entry, error) {
	now := a.now()
	bans, err := a.Store.ListBans(ctx, now)
	if err != nil {
		return nil, err
	}
	var out []Entry
	if allow {
		for _, n := range a.Config.Allow {
			out = append(out, Entry{Kind: store.BanIP, Key: n, Allow: true, Source: "config", Reason: "ban.allow"})
		}
	}
	counts := map[store.BanKind]map[string]map[string]int{}
	for _, kind := range []store.BanKind{store.BanIP, store.BanLogin} {
		cs, err := a.Store.ListBanCounters(ctx, kind, "", now)
		if err != nil {
			return nil, err
		}
		m := map[string]map[string]int{}
		for _, c := range cs {
			k := canonKey(kind, c.Key)
			if m[k] == nil {
				m[k] = map[string]int{}
			}
			m[k][c.Event] = c.Count
		}
		counts[kind] = m
	}
	for _, b := range bans {
		if b.Allow != allow {
			continue
		}
		e := entryOf(b)
		e.Counts = counts[b.Kind][canonKey(b.Kind, b.Key)]
		out = append(out, e)
	}
	return out, nil
}

// canonKey folds a key for matching counters to bans.
func canonKey(kind store.BanKind, key string) string {
	if kind == store.BanIP {
		if p, err := ParseNetwork(key); err == nil {
			return prefixKey(p)
		}
	}
	return LoginKey(key)
}

// Show reports on an address or a login (see Target).
func (a *Admin) Show(ctx context.Context, arg string, login bool) (*Report, error) {
	kind, key, err := Target(arg, login)
	if err != nil {
		return nil, err
	}
	now := a.now()
	r := &Report{Kind: kind, Key: key}
	bans, err := a.Store.ListBans(ctx, now)
	if err != nil {
		return nil, err
	}
	p, _ := ParseNetwork(key)
	for _, b := range bans {
		if b.Kind != kind {
			continue
		}
		if kind == store.BanLogin {
			if LoginKey(b.Key) == key && !b.Allow {
				e := entryOf(b)
				r.Ban = &e
			}
			continue
		}
		bp, err := ParseNetwork(b.Key)
		if err != nil || !bp.Overlaps(p) || bp.Bits() > p.Bits() {
			continue
		}
		e := entryOf(b)
		switch {
		case b.Allow:
			r.Allowed = append(r.Allowed, e)
		case bp == p:
			r.Ban = &e
		default:
			r.Networks = append(r.Networks, e)
		}
	}
	if kind == store.BanIP {
		for _, n := range a.Config.AllowPrefixes() {
			if n.Overlaps(p) && n.Bits() <= p.Bits() {
				r.Allowed = append(r.Allowed, Entry{Kind: store.BanIP, Key: n.String(), Allow: true, Source: "config", Reason: "ban.allow"})
			}
		}
	}
	if r.Counters, err = a.Store.ListBanCounters(ctx, kind, key, now); err != nil {
		return nil, err
	}
	if r.Counters == nil {
		r.Counters = []store.BanCounter{}
	}
	r.Refused = (r.Ban != nil || len(r.Networks) > 0) && (kind == store.BanLogin || len(r.Allowed) == 0)
	return r, nil
}

// Ban bans an address, a network or a login (see Target) for d (0: for
// good). It reports whether the allow-list overrides the ban.
func (a *Admin) Ban(ctx context.Context, arg string, login bool, d time.Duration, reason string) (overridden bool, err error) {
	kind, key, err := Target(arg, login)
	if err != nil {
		return false, err
	}
	if d < 0 {
		return false, fmt.Errorf("ban %s: negative duration %v", key, d)
	}
	if reason == "" {
		reason = "banned by hand"
	}
	b := &store.Ban{Kind: kind, Key: key, Reason: reason}
	if d > 0 {
		b.Expires = a.now().Add(d)
	}
	if err := a.Store.PutBan(ctx, b); err != nil {
		return false, err
	}
	a.announce()
	if kind == store.BanIP {
		if rep, err := a.Show(ctx, key, false); err == nil && len(rep.Allowed) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// Unban lifts the ban of an address, network or login and resets its
// counters. ErrNoEntry when there was neither a ban nor a counter.
func (a *Admin) Unban(ctx context.Context, arg string, login bool) error {
	kind, key, err := Target(arg, login)
	if err != nil {
		return err
	}
	now := a.now()
	counters, err := a.Store.ListBanCounters(ctx, kind, key, now)
	if err != nil {
		return err
	}
	if err := a.Store.ResetBanCounters(ctx, kind, key); err != nil {
		return err
	}
	b, err := a.Store.GetBan(ctx, kind, key, now)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && b.Allow):
		if len(counters) == 0 {
			return fmt.Errorf("%s %s: %w", kind, key, ErrNoEntry)
		}
		a.announce()
		return nil
	case err != nil:
		return err
	}
	if err := a.Store.DeleteBan(ctx, kind, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	a.announce()
	return nil
}

// AllowAdd puts an address or network on the allow-list; it replaces a
// ban of the same key.
func (a *Admin) AllowAdd(ctx context.Context, arg, reason string) error {
	p, err := ParseNetwork(arg)
	if err != nil {
		return err
	}
	if err := a.Store.PutBan(ctx, &store.Ban{Kind: store.BanIP, Key: prefixKey(p), Reason: reason, Allow: true}); err != nil {
		return err
	}
	a.announce()
	return nil
}

// AllowRemove takes an address or network off the allow-list (entries of
// the configuration stay: edit ban.allow). ErrNoEntry when it is not on it.
func (a *Admin) AllowRemove(ctx context.Context, arg string) error {
	p, err := ParseNetwork(arg)
	if err != nil {
		return err
	}
	key := prefixKey(p)
	b, err := a.Store.GetBan(ctx, store.BanIP, key, a.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !b.Allow) {
		return fmt.Errorf("%s: %w on the allow-list", key, ErrNoEntry)
	}
	if err != nil {
		return err
	}
	if err := a.Store.DeleteBan(ctx, store.BanIP, key); err != nil {
		return err
	}
	a.announce()
	return nil
}

func (a *Admin) announce() {
	if a.Publisher != nil {
		a.Publisher.Publish(notify.Event{AccountID: notify.BansAccountID})
	}
}
