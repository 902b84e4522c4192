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

// DKIM signing keys, one per domain and selector (case-insensitive). The
// private key is stored as given; protecting it at rest is the caller's
// concern.

// Compile-time check that *Store is a store.DKIMKeys.
var _ store.DKIMKeys = (*Store)(nil)

// dkimColumns are the columns scanDKIMKey reads, from dkim_keys k joined
// with domains d.
const dkimColumns = `k.id, d.name, k.selector, k.algorithm, k.private_key, k.created, k.active`

func scanDKIMKey(sc rowScanner) (store.DKIMKey, error) {
	var k store.DKIMKey
	var created int64
	err := sc.Scan(&k.ID, &k.Domain, &k.Selector, &k.Algorithm, &k.PrivateKey, &created, &k.Active)
	k.Created = goTime(created)
	return k, err
}

// AddDKIMKey stores k and returns its ID, also setting k.ID and (when zero)
// k.Created. It fails with ErrNotFound when k.Domain is not a local domain
// and with ErrExists when the domain has a key with k.Selector already.
func (s *Store) AddDKIMKey(ctx context.Context, k *store.DKIMKey) (int64, error) {
	switch {
	case k.Domain == "":
		return 0, errors.New("add DKIM key: empty domain")
	case k.Selector == "" || strings.ContainsFunc(k.Selector, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == ';' }):
		return 0, fmt.Errorf("add DKIM key %s for %s: invalid selector", k.Selector, k.Domain)
	case k.Algorithm != "rsa-sha256" && k.Algorithm != "ed25519-sha256":
		return 0, fmt.Errorf("add DKIM key %s for %s: unknown algorithm %q", k.Selector, k.Domain, k.Algorithm)
	case len(k.PrivateKey) == 0:
		return 0, fmt.Errorf("add DKIM key %s for %s: empty private key", k.Selector, k.Domain)
	}
	created := k.Created
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Millisecond)
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var domID int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM domains WHERE name = ?", k.Domain).Scan(&domID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("domain %q: %w", k.Domain, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO dkim_keys (domain_id, selector, algorithm, private_key, created, active)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			domID, k.Selector, k.Algorithm, k.PrivateKey, dbTime(created), boolInt(k.Active)).Scan(&id)
		return constraintError(err)
	})
	if err != nil {
		return 0, fmt.Errorf("add DKIM key %s for %s: %w", k.Selector, k.Domain, err)
	}
	k.ID, k.Created = id, created
	return id, nil
}

// ListDKIMKeys lists the keys of domain, or of every domain when domain is
// "", ordered by domain and selector. A domain without keys, or one that
// does not exist, gives an empty list.
func (s *Store) ListDKIMKeys(ctx context.Context, domain string) ([]store.DKIMKey, error) {
	q := `SELECT ` + dkimColumns + ` FROM dkim_keys k JOIN domains d ON d.id = k.domain_id`
	var args []any
	if domain != "" {
		q += ` WHERE d.name = ?`
		args = append(args, domain)
	}
	q += ` ORDER BY d.name, k.selector`
	out, err := queryAll(ctx, s.rdb, scanDKIMKey, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list DKIM keys: %w", err)
	}
	return out, nil
}

// SetDKIMKeyActive makes the key of domain and selector sign new mail, or
// stop; ErrNotFound when there is no such key.
func (s *Store) SetDKIMKeyActive(ctx context.Context, domain, selector string, active bool) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE dkim_keys SET active = ?
			WHERE selector = ? AND domain_id = (SELECT id FROM domains WHERE name = ?)`,
			boolInt(active), selector, domain)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
	if err != nil {
		return fmt.Errorf("set DKIM key %s for %s active=%v: %w", selector, domain, active, err)
	}
	return nil
}

// DeleteDKIMKey deletes the key of domain and selector; ErrNotFound when
// there is no such key.
func (s *Store) DeleteDKIMKey(ctx context.Context, domain, selector string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM dkim_keys
			WHERE selector = ? AND domain_id = (SELECT id FROM domains WHERE name = ?)`,
			selector, domain)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
	if err != nil {
		return fmt.Errorf("delete DKIM key %s for %s: %w", selector, domain, err)
	}
	return nil
}

// oneRow turns a statement that touched no row into ErrNotFound.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
