package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gannet/lib/store"
)

// Recipient is one account a resolved address delivers to.
type Recipient struct {
	// Account is a copy the caller may keep or change.
	Account *store.Account
	// Detail is the subaddress tag ("tag" of user+tag@domain), or "".
	Detail string
	// Via is the nearest alias, group or mailing list address that led to
	// the account, "@domain" when the domain's catch-all did, "" for the
	// account's own address.
	Via string
}

// Resolution is what an address stands for.
type Resolution struct {
	// Address is the normalised address.
	Address string
	// Local reports whether the domain is one of ours.
	Local bool
	// Accounts are the local accounts mail to Address goes to, each once.
	Accounts []Recipient
	// Forward are the remote addresses mail to Address goes to, each once.
	Forward []string
	// Exists reports whether mail to Address goes anywhere (an account or a
	// forward). A local address that does not exist is to be refused (SMTP
	// 550 5.1.1, RFC 3463).
	Exists bool
}

// Resolve says where mail to address goes. It tries, in order: an account
// with that exact address; an alias (targets resolved in turn, remote ones
// forwarded); a group or mailing list (each member resolved); the address
// without its subaddress (user+tag@domain with the configured separator);
// the domain's catch-all account. Expansion is loop-safe and nests at most
// 10 levels (ErrTooDeep). An address outside our domains resolves with
// Local and Exists false. A syntactically bad address is an error wrapping
// ErrInvalidAddress.
func (d *Directory) Resolve(ctx context.Context, address string) (*Resolution, error) {
	addr, err := Normalize(address)
	if err != nil {
		return nil, err
	}
	res := &Resolution{Address: addr}
	_, domain := Split(addr)
	dom, err := d.domain(ctx, domain)
	if err != nil {
		return nil, err
	}
	if dom == nil {
		return res, nil
	}
	res.Local = true
	x := expansion{d: d, res: res, seen: map[string]bool{}}
	if err := x.local(ctx, addr, dom, 0, "", ""); err != nil {
		return nil, err
	}
	res.Exists = len(res.Accounts) > 0 || len(res.Forward) > 0
	return res, nil
}

// expansion is the state of one Resolve.
type expansion struct {
	d    *Directory
	res  *Resolution
	seen map[string]bool // addresses already expanded: loop and dup guard
}

// target resolves an alias target or a group member (normalised or not).
func (x *expansion) target(ctx context.Context, t string, depth int, via, detail string) error {
	addr, err := Normalize(t)
	if err != nil {
		// Checked when stored; a bad one in the store is skipped rather
		// than making the whole address fail.
		return nil
	}
	_, domain := Split(addr)
	dom, err := x.d.domain(ctx, domain)
	if err != nil {
		return err
	}
	if dom == nil {
		if !slices.Contains(x.res.Forward, addr) {
			x.res.Forward = append(x.res.Forward, addr)
		}
		return nil
	}
	return x.local(ctx, addr, dom, depth, via, detail)
}

// local resolves a normalised address of local domain dom.
func (x *expansion) local(ctx context.Context, addr string, dom *store.Domain, depth int, via, detail string) error {
	if depth > maxDepth {
		return fmt.Errorf("directory: %s: %w", x.res.Address, ErrTooDeep)
	}
	if x.seen[addr] {
		return nil
	}
	x.seen[addr] = true
	found, err := x.exact(ctx, addr, depth, via, detail)
	if err != nil || found {
		return err
	}
	localPart, domain := Split(addr)
	if sep := x.d.cfg.SubaddressSeparator; sep != "" {
		// RFC 5233 section 1: the part before the separator names the
		// mailbox, the rest is the detail.
		if i := strings.Index(localPart, sep); i > 0 {
			base := localPart[:i] + "@" + domain
			tag := localPart[i+len(sep):]
			if detail == "" {
				detail = tag
			}
			if !x.seen[base] {
				x.seen[base] = true
				found, err := x.exact(ctx, base, depth, via, detail)
				if err != nil || found {
					return err
				}
			}
		}
	}
	if dom.CatchAll != "" {
		return x.target(ctx, dom.CatchAll, depth+1, "@"+dom.Name, "")
	}
	return nil
}

// exact expands addr if the store knows it as an account, alias, group or
// list, and reports whether it did.
func (x *expansion) exact(ctx context.Context, addr string, depth int, via, detail string) (bool, error) {
	e, err := x.d.lookup(ctx, addr)
	if err != nil {
		return false, err
	}
	switch {
	case e.acct != nil:
		x.addAccount(e.acct, via, detail)
	case e.alias != nil:
		for _, t := range e.alias.Targets {
			if err := x.target(ctx, t, depth+1, addr, detail); err != nil {
				return true, err
			}
		}
	case e.group != nil:
		for _, m := range e.group.Members {
			if err := x.target(ctx, m, depth+1, addr, detail); err != nil {
				return true, err
			}
		}
	default:
		return false, nil
	}
	return true, nil
}

func (x *expansion) addAccount(a *store.Account, via, detail string) {
	for _, r := range x.res.Accounts {
		if r.Account.ID == a.ID {
			return
		}
	}
	c := *a
	x.res.Accounts = append(x.res.Accounts, Recipient{Account: &c, Detail: detail, Via: via})
}
