package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gannet/lib/store"
)

// domainOf returns the domain part of address.
func domainOf(address string) (string, error) {
	i := strings.LastIndexByte(address, '@')
	if i <= 0 || i == len(address)-1 {
		return "", fmt.Errorf("address %q: want local@domain", address)
	}
	return address[i+1:], nil
}

// domainID finds the ID of the domain of address, or ErrNotFound.
func domainID(ctx context.Context, tx *sql.Tx, address string) (int64, error) {
	d, err := domainOf(address)
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, "SELECT id FROM domains WHERE name = ?", d).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("domain %q: %w", d, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("domain %q: %w", d, err)
	}
	return id, nil
}

// addressFree fails with ErrExists when an account, alias or group already
// has address. One address names one thing.
func addressFree(ctx context.Context, tx *sql.Tx, address string) error {
	var what string
	err := tx.QueryRowContext(ctx, `
		SELECT 'account' FROM accounts WHERE address = ?1
		UNION ALL SELECT 'alias' FROM aliases WHERE address = ?1
		UNION ALL SELECT kind FROM address_groups WHERE address = ?1
		LIMIT 1`, address).Scan(&what)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("address %q: %w", address, err)
	}
	return fmt.Errorf("address %q is already a %s: %w", address, what, store.ErrExists)
}

// ---------------------------------------------------------------------------
// Domains.

// CreateDomain adds a domain and sets d.ID (and d.Created when zero).
func (s *Store) CreateDomain(ctx context.Context, d *store.Domain) error {
	if d.Name == "" || strings.ContainsAny(d.Name, "@ \t\r\n") {
		return fmt.Errorf("create domain %q: invalid name", d.Name)
	}
	if d.Created.IsZero() {
		d.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx,
			"INSERT INTO domains (name, catch_all, created) VALUES (?, ?, ?) RETURNING id",
			d.Name, d.CatchAll, dbTime(d.Created)).Scan(&d.ID)
	})
	if err != nil {
		return fmt.Errorf("create domain %q: %w", d.Name, constraintError(err))
	}
	return nil
}

const domainCols = "id, name, catch_all, created"

func scanDomain(sc rowScanner) (store.Domain, error) {
	var d store.Domain
	var created int64
	err := sc.Scan(&d.ID, &d.Name, &d.CatchAll, &created)
	d.Created = goTime(created)
	return d, err
}

// GetDomain finds a domain by name (case-insensitive).
func (s *Store) GetDomain(ctx context.Context, name string) (*store.Domain, error) {
	d, err := scanDomain(s.rdb.QueryRowContext(ctx, "SELECT "+domainCols+" FROM domains WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("domain %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", name, err)
	}
	return &d, nil
}

// ListDomains lists every domain by name.
func (s *Store) ListDomains(ctx context.Context) ([]store.Domain, error) {
	out, err := queryAll(ctx, s.rdb, scanDomain, "SELECT "+domainCols+" FROM domains ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// UpdateDomain saves d's name and catch-all, finding it by d.ID (by d.Name
// when d.ID is 0).
func (s *Store) UpdateDomain(ctx context.Context, d *store.Domain) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if d.ID != 0 {
			res, err = tx.ExecContext(ctx, "UPDATE domains SET name = ?, catch_all = ? WHERE id = ?", d.Name, d.CatchAll, d.ID)
		} else {
			res, err = tx.ExecContext(ctx, "UPDATE domains SET catch_all = ? WHERE name = ?", d.CatchAll, d.Name)
		}
		if err != nil {
			return constraintError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update domain %q: %w", d.Name, err)
	}
	return nil
}

// DeleteDomain removes a domain with its aliases, groups and lists. It fails
// with ErrExists while accounts remain in it.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var id, accounts int64
		err := tx.QueryRowContext(ctx,
			"SELECT id, (SELECT count(*) FROM accounts WHERE domain_id = domains.id) FROM domains WHERE name = ?",
			name).Scan(&id, &accounts)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if accounts > 0 {
			return fmt.Errorf("%d accounts remain: %w", accounts, store.ErrExists)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM domains WHERE id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete domain %q: %w", name, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Accounts.

// defaultMailboxes are created with every account.
var defaultMailboxes = []struct{ name, use string }{
	{"INBOX", ""},
	{"Sent", store.SpecialSent},
	{"Drafts", store.SpecialDrafts},
	{"Junk", store.SpecialJunk},
	{"Trash", store.SpecialTrash},
	{"Archive", store.SpecialArchive},
}

// CreateAccount adds an account with its default mailboxes and sets a.ID,
// a.DomainID (from the address when 0) and a.Created (when zero).
func (s *Store) CreateAccount(ctx context.Context, a *store.Account) error {
	if _, err := domainOf(a.Address); err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	if a.Created.IsZero() {
		a.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		domID := a.DomainID
		if domID == 0 {
			var err error
			if domID, err = domainID(ctx, tx, a.Address); err != nil {
				return err
			}
		}
		if err := addressFree(ctx, tx, a.Address); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO accounts
			(domain_id, address, display_name, password_hash, scram_sha256, quota_bytes, quota_messages, disabled, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			domID, a.Address, a.DisplayName, a.PasswordHash, a.SCRAMSHA256, a.QuotaBytes, a.QuotaMessages,
			boolInt(a.Disabled), dbTime(a.Created)).Scan(&id)
		if err != nil {
			return constraintError(err)
		}
		for _, m := range defaultMailboxes {
			mb := store.Mailbox{AccountID: id, Name: m.name, SpecialUse: m.use, Subscribed: true}
			if err := s.createMailbox(ctx, tx, &mb); err != nil {
				return err
			}
		}
		a.ID, a.DomainID = id, domID
		return nil
	})
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.Address, err)
	}
	return nil
}

const accountCols = `id, domain_id, address, display_name, password_hash, scram_sha256,
	quota_bytes, quota_messages, disabled, created`

func scanAccount(sc rowScanner) (store.Account, error) {
	var a store.Account
	var disabled int
	var created int64
	err := sc.Scan(&a.ID, &a.DomainID, &a.Address, &a.DisplayName, &a.PasswordHash, &a.SCRAMSHA256,
		&a.QuotaBytes, &a.QuotaMessages, &disabled, &created)
	a.Disabled, a.Created = disabled != 0, goTime(created)
	return a, err
}

// GetAccount finds an account by address (case-insensitive).
func (s *Store) GetAccount(ctx context.Context, address string) (*store.Account, error) {
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE address = ?", address))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("account %q: %w", address, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", address, err)
	}
	return &a, nil
}

// GetAccountByID finds an account by ID.
func (s *Store) GetAccountByID(ctx context.Context, id int64) (*store.Account, error) {
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("account %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("account %d: %w", id, err)
	}
	return &a, nil
}

// ListAccounts lists the accounts of one domain, or all when domain is "",
// by address.
func (s *Store) ListAccounts(ctx context.Context, domain string) ([]store.Account, error) {
	q := "SELECT " + accountCols + " FROM accounts"
	var args []any
	if domain != "" {
		q += " WHERE domain_id = (SELECT id FROM domains WHERE name = ?)"
		args = append(args, domain)
	}
	out, err := queryAll(ctx, s.rdb, scanAccount, q+" ORDER BY address", args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount saves a's address, display name, password hash, SCRAM keys,
// quotas and disabled flag, finding it by a.ID. A changed address must be free and in a
// known domain; a.DomainID follows it.
func (s *Store) UpdateAccount(ctx context.Context, a *store.Account) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, "SELECT address FROM accounts WHERE id = ?", a.ID).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		domID, err := domainID(ctx, tx, a.Address)
		if err != nil {
			return err
		}
		if !strings.EqualFold(old, a.Address) {
			if err := addressFree(ctx, tx, a.Address); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE accounts SET domain_id = ?, address = ?, display_name = ?,
			password_hash = ?, scram_sha256 = ?, quota_bytes = ?, quota_messages = ?, disabled = ? WHERE id = ?`,
			domID, a.Address, a.DisplayName, a.PasswordHash, a.SCRAMSHA256, a.QuotaBytes, a.QuotaMessages,
			boolInt(a.Disabled), a.ID)
		if err != nil {
			return constraintError(err)
		}
		a.DomainID = domID
		return nil
	})
	if err != nil {
		return fmt.Errorf("update account %d (%s): %w", a.ID, a.Address, err)
	}
	return nil
}

// DeleteAccount removes the account with everything it owns (mailboxes,
// messages, change log, app passwords, and rows of other tables that
// reference it ON DELETE CASCADE) and its group memberships. Blobs no other
// message or queue entry holds are deleted.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM accounts WHERE address = ?", address).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := s.deleteMessages(ctx, tx, "m.account_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM group_members WHERE member = ?", address); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM accounts WHERE id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete account %q: %w", address, err)
	}
	return nil
}

// AccountUsage returns what the account stores now.
func (s *Store) AccountUsage(ctx context.Context, accountID int64) (store.AccountUsage, error) {
	var u store.AccountUsage
	err := s.rdb.QueryRowContext(ctx, "SELECT used_bytes, used_messages FROM accounts WHERE id = ?",
		accountID).Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("usage of account %d: %w", accountID, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("usage of account %d: %w", accountID, err)
	}
	return u, nil
}

// ---------------------------------------------------------------------------
// App passwords.

// AddAppPassword stores p and sets p.ID (and p.Created when zero).
func (s *Store) AddAppPassword(ctx context.Context, p *store.AppPassword) error {
	if p.Created.IsZero() {
		p.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO app_passwords (account_id, label, hash, created, last_used)
			VALUES (?, ?, ?, ?, ?) RETURNING id`,
			p.AccountID, p.Label, p.Hash, dbTime(p.Created), dbTime(p.LastUsed)).Scan(&p.ID)
		return constraintError(err)
	})
	if err != nil {
		return fmt.Errorf("add app password for account %d: %w", p.AccountID, err)
	}
	return nil
}

// ListAppPasswords lists an account's app passwords, oldest first.
func (s *Store) ListAppPasswords(ctx context.Context, accountID int64) ([]store.AppPassword, error) {
	out, err := queryAll(ctx, s.rdb, func(sc rowScanner) (store.AppPassword, error) {
		p := store.AppPassword{AccountID: accountID}
		var created, used int64
		err := sc.Scan(&p.ID, &p.Label, &p.Hash, &created, &used)
		p.Created, p.LastUsed = goTime(created), goTime(used)
		return p, err
	}, "SELECT id, label, hash, created, last_used FROM app_passwords WHERE account_id = ? ORDER BY id", accountID)
	if err != nil {
		return nil, fmt.Errorf("list app passwords of account %d: %w", accountID, err)
	}
	return out, nil
}

// DeleteAppPassword removes one app password of an account.
func (s *Store) DeleteAppPassword(ctx context.Context, accountID, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM app_passwords WHERE id = ? AND account_id = ?", id, accountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete app password %d of account %d: %w", id, accountID, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Aliases.

// CreateAlias stores an alias (its domain must exist; its address must not
// be an account, alias or group) and sets a.ID.
func (s *Store) CreateAlias(ctx context.Context, a *store.Alias) error {
	if len(a.Targets) == 0 {
		return fmt.Errorf("create alias %q: no targets", a.Address)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		domID, err := domainID(ctx, tx, a.Address)
		if err != nil {
			return err
		}
		if err := addressFree(ctx, tx, a.Address); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, "INSERT INTO aliases (domain_id, address) VALUES (?, ?) RETURNING id",
			domID, a.Address).Scan(&id); err != nil {
			return constraintError(err)
		}
		for i, t := range a.Targets {
			if _, err := tx.ExecContext(ctx, "INSERT INTO alias_targets (alias_id, position, target) VALUES (?, ?, ?)",
				id, i, t); err != nil {
				return err
			}
		}
		a.ID = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("create alias %q: %w", a.Address, err)
	}
	return nil
}

// listAliases runs q (selecting alias id and address) and loads targets.
func (s *Store) listAliases(ctx context.Context, where string, args ...any) ([]store.Alias, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT a.id, a.address, t.target FROM aliases a
		JOIN alias_targets t ON t.alias_id = a.id WHERE `+where+` ORDER BY a.address, a.id, t.position`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		var id int64
		var addr, target string
		if err := rows.Scan(&id, &addr, &target); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != id {
			out = append(out, store.Alias{ID: id, Address: addr})
		}
		out[len(out)-1].Targets = append(out[len(out)-1].Targets, target)
	}
	return out, rows.Err()
}

// GetAlias finds an alias by address (case-insensitive).
func (s *Store) GetAlias(ctx context.Context, address string) (*store.Alias, error) {
	as, err := s.listAliases(ctx, "a.address = ?", address)
	if err != nil {
		return nil, fmt.Errorf("alias %q: %w", address, err)
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("alias %q: %w", address, store.ErrNotFound)
	}
	return &as[0], nil
}

// ListAliases lists the aliases of a domain, or all when domain is "".
func (s *Store) ListAliases(ctx context.Context, domain string) ([]store.Alias, error) {
	var as []store.Alias
	var err error
	if domain == "" {
		as, err = s.listAliases(ctx, "1")
	} else {
		as, err = s.listAliases(ctx, "a.domain_id = (SELECT id FROM domains WHERE name = ?)", domain)
	}
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	return as, nil
}

// DeleteAlias removes an alias.
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM aliases WHERE address = ?", address)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete alias %q: %w", address, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Groups and mailing lists.

// CreateGroup stores a group or list with its members and sets g.ID.
func (s *Store) CreateGroup(ctx context.Context, g *store.Group) error {
	if g.Kind != store.KindGroup && g.Kind != store.KindList {
		return fmt.Errorf("create group %q: unknown kind %q", g.Address, g.Kind)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		domID, err := domainID(ctx, tx, g.Address)
		if err != nil {
			return err
		}
		if err := addressFree(ctx, tx, g.Address); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, "INSERT INTO address_groups (domain_id, kind, address) VALUES (?, ?, ?) RETURNING id",
			domID, string(g.Kind), g.Address).Scan(&id); err != nil {
			return constraintError(err)
		}
		for _, m := range g.Members {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO group_members (group_id, member) VALUES (?, ?)", id, m); err != nil {
				return err
			}
		}
		g.ID = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("create %s %q: %w", g.Kind, g.Address, err)
	}
	return nil
}

// listGroups loads groups matching where (on address_groups g) with their
// members, sorted by address and member.
func (s *Store) listGroups(ctx context.Context, where string, args ...any) ([]store.Group, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT g.id, g.kind, g.address, m.member FROM address_groups g
		LEFT JOIN group_members m ON m.group_id = g.id WHERE `+where+` ORDER BY g.address, g.id, m.member`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		var id int64
		var kind, addr string
		var member sql.NullString
		if err := rows.Scan(&id, &kind, &addr, &member); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != id {
			out = append(out, store.Group{ID: id, Kind: store.GroupKind(kind), Address: addr})
		}
		if member.Valid {
			out[len(out)-1].Members = append(out[len(out)-1].Members, member.String)
		}
	}
	return out, rows.Err()
}

// GetGroup finds a group or list by address.
func (s *Store) GetGroup(ctx context.Context, address string) (*store.Group, error) {
	gs, err := s.listGroups(ctx, "g.address = ?", address)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", address, err)
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("group %q: %w", address, store.ErrNotFound)
	}
	return &gs[0], nil
}

// ListGroups lists groups of one kind ("" for both) in one domain ("" for
// all).
func (s *Store) ListGroups(ctx context.Context, kind store.GroupKind, domain string) ([]store.Group, error) {
	where, args := "1", []any{}
	if kind != "" {
		where += " AND g.kind = ?"
		args = append(args, string(kind))
	}
	if domain != "" {
		where += " AND g.domain_id = (SELECT id FROM domains WHERE name = ?)"
		args = append(args, domain)
	}
	gs, err := s.listGroups(ctx, where, args...)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return gs, nil
}

// AddGroupMember adds member to a group or list; ErrExists if it is one.
func (s *Store) AddGroupMember(ctx context.Context, address, member string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM address_groups WHERE address = ?", address).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO group_members (group_id, member) VALUES (?, ?)", id, member)
		return constraintError(err)
	})
	if err != nil {
		return fmt.Errorf("add %q to group %q: %w", member, address, err)
	}
	return nil
}

// RemoveGroupMember removes member from a group or list.
func (s *Store) RemoveGroupMember(ctx context.Context, address, member string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE member = ?
			AND group_id = (SELECT id FROM address_groups WHERE address = ?)`, member, address)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %q from group %q: %w", member, address, err)
	}
	return nil
}

// DeleteGroup removes a group or list.
func (s *Store) DeleteGroup(ctx context.Context, address string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM address_groups WHERE address = ?", address)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete group %q: %w", address, err)
	}
	return nil
}

// GroupsWithMember lists the groups and lists that have member.
func (s *Store) GroupsWithMember(ctx context.Context, member string) ([]store.Group, error) {
	gs, err := s.listGroups(ctx, "g.id IN (SELECT group_id FROM group_members WHERE member = ?)", member)
	if err != nil {
		return nil, fmt.Errorf("groups with member %q: %w", member, err)
	}
	return gs, nil
}
