package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gannet/lib/store"
)

// NotFoundError says that a named directory object does not exist. It
// wraps store.ErrNotFound.
type NotFoundError struct {
	// What is "domain", "user", "alias", "group" or "list".
	What    string
	Address string
}

func (e *NotFoundError) Error() string {
	noun := e.What
	switch e.What {
	case "user":
		noun = "account"
	case "list":
		noun = "mailing list"
	}
	return fmt.Sprintf("%s %s: no such %s", e.What, e.Address, noun)
}

// Unwrap makes errors.Is(err, store.ErrNotFound) hold.
func (e *NotFoundError) Unwrap() error { return store.ErrNotFound }

// notFound turns a store not-found error into a NotFoundError.
func notFound(err error, what, addr string) error {
	if errors.Is(err, store.ErrNotFound) {
		return &NotFoundError{What: what, Address: addr}
	}
	return fmt.Errorf("%s %s: %w", what, addr, err)
}

// whatOf names a group kind the way NotFoundError does.
func whatOf(kind store.GroupKind) string {
	if kind == store.KindList {
		return "list"
	}
	return "group"
}

// AddDomain makes the server final destination for a domain.
func (d *Directory) AddDomain(ctx context.Context, name string) (*store.Domain, error) {
	n, err := NormalizeDomain(name)
	if err != nil {
		return nil, err
	}
	if n[0] == '[' {
		return nil, fmt.Errorf("%w: %s: an address literal cannot be a mail domain", ErrInvalidAddress, n)
	}
	dom := &store.Domain{Name: n}
	if err := d.st.CreateDomain(ctx, dom); err != nil {
		return nil, fmt.Errorf("domain %s: %w", n, err)
	}
	d.Invalidate()
	return dom, nil
}

// Domain returns a local domain.
func (d *Directory) Domain(ctx context.Context, name string) (*store.Domain, error) {
	n, err := NormalizeDomain(name)
	if err != nil {
		return nil, err
	}
	dom, err := d.st.GetDomain(ctx, n)
	if err != nil {
		return nil, notFound(err, "domain", n)
	}
	return dom, nil
}

// RemoveDomain removes a domain that has no accounts, aliases, groups or
// lists left (store.ErrExists otherwise).
func (d *Directory) RemoveDomain(ctx context.Context, name string) error {
	dom, err := d.Domain(ctx, name)
	if err != nil {
		return err
	}
	accts, err := d.st.ListAccounts(ctx, dom.Name)
	if err != nil {
		return fmt.Errorf("domain %s: %w", dom.Name, err)
	}
	aliases, err := d.st.ListAliases(ctx, dom.Name)
	if err != nil {
		return fmt.Errorf("domain %s: %w", dom.Name, err)
	}
	groups, err := d.st.ListGroups(ctx, store.KindGroup, dom.Name)
	if err != nil {
		return fmt.Errorf("domain %s: %w", dom.Name, err)
	}
	lists, err := d.st.ListGroups(ctx, store.KindList, dom.Name)
	if err != nil {
		return fmt.Errorf("domain %s: %w", dom.Name, err)
	}
	if n := len(accts) + len(aliases) + len(groups) + len(lists); n > 0 {
		return fmt.Errorf("domain %s: still has %d accounts, %d aliases, %d groups and %d lists: %w",
			dom.Name, len(accts), len(aliases), len(groups), len(lists), store.ErrExists)
	}
	if err := d.st.DeleteDomain(ctx, dom.Name); err != nil {
		return notFound(err, "domain", dom.Name)
	}
	d.Invalidate()
	return nil
}

// SetCatchAll makes account receive mail for unknown local parts of domain;
// an empty account turns the catch-all off. The account must exist.
func (d *Directory) SetCatchAll(ctx context.Context, domain, account string) error {
	dom, err := d.Domain(ctx, domain)
	if err != nil {
		return err
	}
	dom.CatchAll = ""
	if account != "" {
		a, err := d.Account(ctx, account)
		if err != nil {
			return err
		}
		dom.CatchAll = a.Address
	}
	if err := d.st.UpdateDomain(ctx, dom); err != nil {
		return notFound(err, "domain", dom.Name)
	}
	d.Invalidate()
	return nil
}

// CheckNewAddress normalises an address for a new account, alias, group
// or list: it must be in one of our domains (a NotFoundError for the domain
// otherwise) and not used by an account, alias, group or list yet
// (store.ErrExists).
func (d *Directory) CheckNewAddress(ctx context.Context, address string) (string, *store.Domain, error) {
	addr, err := Normalize(address)
	if err != nil {
		return "", nil, err
	}
	_, domain := Split(addr)
	dom, err := d.st.GetDomain(ctx, domain)
	if err != nil {
		return "", nil, notFound(err, "domain", domain)
	}
	if _, err := d.st.GetAccount(ctx, addr); err == nil {
		return "", nil, fmt.Errorf("%s is already an account: %w", addr, store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", nil, fmt.Errorf("%s: %w", addr, err)
	}
	if _, err := d.st.GetAlias(ctx, addr); err == nil {
		return "", nil, fmt.Errorf("%s is already an alias: %w", addr, store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", nil, fmt.Errorf("%s: %w", addr, err)
	}
	if g, err := d.st.GetGroup(ctx, addr); err == nil {
		return "", nil, fmt.Errorf("%s is already a %s: %w", addr, whatOf(g.Kind), store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", nil, fmt.Errorf("%s: %w", addr, err)
	}
	return addr, dom, nil
}

// AddAccount creates an account (and its default mailboxes). a.Address is
// normalised in place and must be in a local domain and not yet used by an
// account, alias, group or list; a.DomainID is set. The caller hashes the
// password (lib/auth).
func (d *Directory) AddAccount(ctx context.Context, a *store.Account) error {
	addr, dom, err := d.CheckNewAddress(ctx, a.Address)
	if err != nil {
		return err
	}
	if a.QuotaBytes < 0 || a.QuotaMessages < 0 {
		return fmt.Errorf("user %s: negative quota", addr)
	}
	a.Address = addr
	a.DomainID = dom.ID
	if err := d.st.CreateAccount(ctx, a); err != nil {
		return fmt.Errorf("user %s: %w", addr, err)
	}
	d.Invalidate()
	return nil
}

// Account returns an account by address, read from the store (never the
// cache: callers change it or check its password).
func (d *Directory) Account(ctx context.Context, address string) (*store.Account, error) {
	addr, err := Normalize(address)
	if err != nil {
		return nil, err
	}
	a, err := d.st.GetAccount(ctx, addr)
	if err != nil {
		return nil, notFound(err, "user", addr)
	}
	return a, nil
}

// UpdateAccount saves a changed account (password hash, display name,
// quota, disabled).
func (d *Directory) UpdateAccount(ctx context.Context, a *store.Account) error {
	if a.QuotaBytes < 0 || a.QuotaMessages < 0 {
		return fmt.Errorf("user %s: negative quota", a.Address)
	}
	if err := d.st.UpdateAccount(ctx, a); err != nil {
		return notFound(err, "user", a.Address)
	}
	d.Invalidate()
	return nil
}

// RemoveAccount deletes an account with its mailboxes, messages and
// scripts, and turns off catch-alls that pointed at it.
func (d *Directory) RemoveAccount(ctx context.Context, address string) error {
	a, err := d.Account(ctx, address)
	if err != nil {
		return err
	}
	if err := d.st.DeleteAccount(ctx, a.Address); err != nil {
		return notFound(err, "user", a.Address)
	}
	doms, err := d.st.ListDomains(ctx)
	if err != nil {
		return fmt.Errorf("user %s removed, but: %w", a.Address, err)
	}
	for _, dom := range doms {
		if dom.CatchAll == a.Address {
			dom.CatchAll = ""
			if err := d.st.UpdateDomain(ctx, &dom); err != nil {
				return fmt.Errorf("user %s removed, but catch-all of %s: %w", a.Address, dom.Name, err)
			}
		}
	}
	d.Invalidate()
	return nil
}

// normalizeTargets normalises alias targets or group members, dropping
// duplicates. Targets may be remote.
func normalizeTargets(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, t := range in {
		n, err := Normalize(t)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// AddAlias creates an alias in a local domain pointing at one or more
// targets, local or remote.
func (d *Directory) AddAlias(ctx context.Context, address string, targets []string) (*store.Alias, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("alias %s: no targets", address)
	}
	addr, _, err := d.CheckNewAddress(ctx, address)
	if err != nil {
		return nil, err
	}
	ts, err := normalizeTargets(targets)
	if err != nil {
		return nil, err
	}
	if slices.Contains(ts, addr) {
		return nil, fmt.Errorf("alias %s: points at itself: %w", addr, ErrInvalidAddress)
	}
	a := &store.Alias{Address: addr, Targets: ts}
	if err := d.st.CreateAlias(ctx, a); err != nil {
		return nil, fmt.Errorf("alias %s: %w", addr, err)
	}
	d.Invalidate()
	return a, nil
}

// Alias returns an alias.
func (d *Directory) Alias(ctx context.Context, address string) (*store.Alias, error) {
	addr, err := Normalize(address)
	if err != nil {
		return nil, err
	}
	a, err := d.st.GetAlias(ctx, addr)
	if err != nil {
		return nil, notFound(err, "alias", addr)
	}
	return a, nil
}

// RemoveAlias deletes an alias.
func (d *Directory) RemoveAlias(ctx context.Context, address string) error {
	addr, err := Normalize(address)
	if err != nil {
		return err
	}
	if err := d.st.DeleteAlias(ctx, addr); err != nil {
		return notFound(err, "alias", addr)
	}
	d.Invalidate()
	return nil
}

// AddGroup creates a group or mailing list in a local domain with its
// first members (local or remote addresses).
func (d *Directory) AddGroup(ctx context.Context, kind store.GroupKind, address string, members []string) (*store.Group, error) {
	if kind != store.KindGroup && kind != store.KindList {
		return nil, fmt.Errorf("directory: unknown group kind %q", kind)
	}
	addr, _, err := d.CheckNewAddress(ctx, address)
	if err != nil {
		return nil, err
	}
	ms, err := normalizeTargets(members)
	if err != nil {
		return nil, err
	}
	g := &store.Group{Kind: kind, Address: addr, Members: ms}
	if err := d.st.CreateGroup(ctx, g); err != nil {
		return nil, fmt.Errorf("%s %s: %w", whatOf(kind), addr, err)
	}
	d.Invalidate()
	return g, nil
}

// Group returns a group or mailing list of the given kind.
func (d *Directory) Group(ctx context.Context, kind store.GroupKind, address string) (*store.Group, error) {
	addr, err := Normalize(address)
	if err != nil {
		return nil, err
	}
	g, err := d.st.GetGroup(ctx, addr)
	if err == nil && g.Kind != kind {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, notFound(err, whatOf(kind), addr)
	}
	return g, nil
}

// AddGroupMembers adds members to a group or mailing list; members already
// in it are left alone.
func (d *Directory) AddGroupMembers(ctx context.Context, kind store.GroupKind, address string, members []string) error {
	g, err := d.Group(ctx, kind, address)
	if err != nil {
		return err
	}
	ms, err := normalizeTargets(members)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if slices.Contains(g.Members, m) {
			continue
		}
		if err := d.st.AddGroupMember(ctx, g.Address, m); err != nil {
			return fmt.Errorf("%s %s: add %s: %w", whatOf(kind), g.Address, m, err)
		}
	}
	d.Invalidate()
	return nil
}

// RemoveGroupMembers removes members from a group or mailing list; a member
// not in it is an error naming it (wrapping store.ErrNotFound).
func (d *Directory) RemoveGroupMembers(ctx context.Context, kind store.GroupKind, address string, members []string) error {
	g, err := d.Group(ctx, kind, address)
	if err != nil {
		return err
	}
	ms, err := normalizeTargets(members)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !slices.Contains(g.Members, m) {
			return fmt.Errorf("%s %s: %s is not a member: %w", whatOf(kind), g.Address, m, store.ErrNotFound)
		}
		if err := d.st.RemoveGroupMember(ctx, g.Address, m); err != nil {
			return fmt.Errorf("%s %s: remove %s: %w", whatOf(kind), g.Address, m, err)
		}
	}
	d.Invalidate()
	return nil
}

// RemoveGroup deletes a group or mailing list of the given kind.
func (d *Directory) RemoveGroup(ctx context.Context, kind store.GroupKind, address string) error {
	g, err := d.Group(ctx, kind, address)
	if err != nil {
		return err
	}
	if err := d.st.DeleteGroup(ctx, g.Address); err != nil {
		return notFound(err, whatOf(kind), g.Address)
	}
	d.Invalidate()
	return nil
}
