package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gannet/lib/store"
)

// Bans.
//
// There is one entry per (kind, key): putting an allow entry for a key
// replaces its ban and the other way round. Keys compare exactly except for
// ASCII case (login names are case-insensitive, and so is IPv6 hex);
// matching an address against CIDR keys is lib/ban's job. PutBan also
// deletes entries that expired before the wall clock's now, so automatic
// bans do not pile up.

// Compile-time check that *Store is a store.Bans.
var _ store.Bans = (*Store)(nil)

// validBanKind reports whether k is a known ban kind.
func validBanKind(k store.BanKind) bool {
	return k == store.BanIP || k == store.BanLogin
}

// PutBan creates or replaces the entry for (b.Kind, b.Key). A zero
// b.Created is set to now; a zero b.Expires never expires.
func (s *Store) PutBan(ctx context.Context, b *store.Ban) error {
	if !validBanKind(b.Kind) {
		return fmt.Errorf("put ban: unknown kind %q", b.Kind)
	}
	if b.Key == "" {
		return errors.New("put ban: empty key")
	}
	now := time.Now()
	created := b.Created
	if created.IsZero() {
		created = now
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM bans WHERE expires <> 0 AND expires <= ?`, dbTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO bans (kind, key, reason, created, expires, allow)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, key) DO UPDATE SET key = excluded.key, reason = excluded.reason,
				created = excluded.created, expires = excluded.expires, allow = excluded.allow`,
			string(b.Kind), b.Key, b.Reason, dbTime(created), dbTime(b.Expires), boolInt(b.Allow))
		return err
	})
	if err != nil {
		return fmt.Errorf("put ban %s %s: %w", b.Kind, b.Key, err)
	}
	b.Created = goTime(dbTime(created))
	return nil
}

// DeleteBan deletes the entry for (kind, key), expired or not; ErrNotFound
// when there is none.
func (s *Store) DeleteBan(ctx context.Context, kind store.BanKind, key string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM bans WHERE kind = ? AND key = ?`, string(kind), key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete ban %s %s: %w", kind, key, err)
	}
	return nil
}

// banColumns are the bans columns in the order scanBan reads them.
const banColumns = `kind, key, reason, created, expires, allow`

func scanBan(sc rowScanner) (store.Ban, error) {
	var b store.Ban
	var kind string
	var created, expires int64
	if err := sc.Scan(&kind, &b.Key, &b.Reason, &created, &expires, &b.Allow); err != nil {
		return b, err
	}
	b.Kind = store.BanKind(kind)
	b.Created, b.Expires = goTime(created), goTime(expires)
	return b, nil
}

// ListBans lists the entries not expired at now (those expiring after now
// or never), by kind and key.
func (s *Store) ListBans(ctx context.Context, now time.Time) ([]store.Ban, error) {
	out, err := queryAll(ctx, s.rdb, scanBan, `SELECT `+banColumns+` FROM bans
		WHERE expires = 0 OR expires > ? ORDER BY kind, key`, dbTime(now))
	if err != nil {
		return nil, fmt.Errorf("list bans: %w", err)
	}
	return out, nil
}

// GetBan returns the entry for (kind, key) if it is live at now, else
// ErrNotFound.
func (s *Store) GetBan(ctx context.Context, kind store.BanKind, key string, now time.Time) (*store.Ban, error) {
	b, err := scanBan(s.rdb.QueryRowContext(ctx, `SELECT `+banColumns+` FROM bans
		WHERE kind = ? AND key = ? AND (expires = 0 OR expires > ?)`, string(kind), key, dbTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ban %s %s: %w", kind, key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get ban %s %s: %w", kind, key, err)
	}
	return &b, nil
}
