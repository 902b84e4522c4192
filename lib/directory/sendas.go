package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gannet/lib/store"
)

// stripDetail removes the subaddress from a normalised address.
func (d *Directory) stripDetail(addr string) string {
	sep := d.cfg.SubaddressSeparator
	if sep == "" {
		return addr
	}
	local, domain := Split(addr)
	if i := strings.Index(local, sep); i > 0 {
		return local[:i] + "@" + domain
	}
	return addr
}

// CanSendAs reports whether acct may use address as its sender: its own
// address and subaddresses of it, aliases whose targets (directly or
// through further aliases and groups) include the account, and groups
// (store.KindGroup) it is a member of. Mailing lists and catch-alls give no
// such right.
func (d *Directory) CanSendAs(ctx context.Context, acct *store.Account, address string) (bool, error) {
	addr, err := Normalize(address)
	if err != nil {
		return false, err
	}
	own, err := Normalize(acct.Address)
	if err != nil {
		return false, fmt.Errorf("directory: account address: %w", err)
	}
	if addr == own || d.stripDetail(addr) == own {
		return true, nil
	}
	seen := map[string]bool{}
	ok, err := d.sendsAs(ctx, own, addr, 0, seen)
	if err != nil || ok {
		return ok, err
	}
	if base := d.stripDetail(addr); base != addr {
		return d.sendsAs(ctx, own, base, 0, seen)
	}
	return false, nil
}

// sendsAs walks aliases and groups from addr looking for own.
func (d *Directory) sendsAs(ctx context.Context, own, addr string, depth int, seen map[string]bool) (bool, error) {
	// Targets of addr are one level deeper, as in Resolve.
	if depth >= maxDepth || seen[addr] {
		return false, nil
	}
	seen[addr] = true
	_, domain := Split(addr)
	dom, err := d.domain(ctx, domain)
	if err != nil || dom == nil {
		return false, err
	}
	e, err := d.lookup(ctx, addr)
	if err != nil {
		return false, err
	}
	var next []string
	switch {
	case e.alias != nil:
		next = e.alias.Targets
	case e.group != nil && e.group.Kind == store.KindGroup:
		next = e.group.Members
	default:
		return false, nil
	}
	for _, t := range next {
		t, err := Normalize(t)
		if err != nil {
			continue
		}
		if t == own || d.stripDetail(t) == own {
			return true, nil
		}
		ok, err := d.sendsAs(ctx, own, t, depth+1, seen)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// AccountAddresses lists the addresses acct receives at and may send as,
// for display: its own address first, then the aliases that point at it
// and the groups it is a member of, sorted.
func (d *Directory) AccountAddresses(ctx context.Context, acct *store.Account) ([]string, error) {
	own, err := Normalize(acct.Address)
	if err != nil {
		return nil, fmt.Errorf("directory: account address: %w", err)
	}
	var more []string
	aliases, err := d.st.ListAliases(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("directory: list aliases: %w", err)
	}
	for _, a := range aliases {
		ok, err := d.CanSendAs(ctx, acct, a.Address)
		if err != nil && !errors.Is(err, ErrInvalidAddress) {
			return nil, err
		}
		if ok && a.Address != own {
			more = append(more, a.Address)
		}
	}
	groups, err := d.st.GroupsWithMember(ctx, own)
	if err != nil {
		return nil, fmt.Errorf("directory: groups of %s: %w", own, err)
	}
	for _, g := range groups {
		if g.Kind == store.KindGroup {
			more = append(more, g.Address)
		}
	}
	slices.Sort(more)
	return append([]string{own}, slices.Compact(more)...), nil
}
