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

// maxBanEvent bounds the name of a counter's event.
const maxBanEvent = 32

// CountBanEvent adds one to the counter of event for (kind, key), starting
// a new window when the old one has ended, and returns the count. It also
// deletes the counters whose windows ended before now, so that counters of
// passing strangers do not pile up.
func (s *Store) CountBanEvent(ctx context.Context, kind store.BanKind, key, event string, window time.Duration, now time.Time) (int, error) {
	switch {
	case !validBanKind(kind):
		return 0, fmt.Errorf("count ban event: unknown kind %q", kind)
	case key == "":
		return 0, errors.New("count ban event: empty key")
	case event == "" || len(event) > maxBanEvent:
		return 0, fmt.Errorf("count ban event: bad event name %q", event)
	case window <= 0:
		return 0, fmt.Errorf("count ban event: window %v is not positive", window)
	}
	t := dbTime(now)
	until := dbTime(now.Add(window))
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ban_counters WHERE until < ?`, t); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO ban_counters (kind, key, event, count, start, until, last)
			VALUES (?, ?, ?, 1, ?, ?, ?)
			ON CONFLICT (kind, key, event) DO UPDATE SET
				count = CASE WHEN until <= excluded.last THEN 1 ELSE count + 1 END,
				start = CASE WHEN until <= excluded.last THEN excluded.start ELSE start END,
				until = CASE WHEN until <= excluded.last THEN excluded.until ELSE until END,
				last = excluded.last
			RETURNING count`,
			string(kind), key, event, t, until, t).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count ban event %s %s %s: %w", kind, key, event, err)
	}
	return n, nil
}

// ListBanCounters lists the counters of (kind, key), or of every key of
// kind when key is "", whose windows are open at now.
func (s *Store) ListBanCounters(ctx context.Context, kind store.BanKind, key string, now time.Time) ([]store.BanCounter, error) {
	scan := func(sc rowScanner) (store.BanCounter, error) {
		var c store.BanCounter
		var k string
		var start, until, last int64
		if err := sc.Scan(&k, &c.Key, &c.Event, &c.Count, &start, &until, &last); err != nil {
			return c, err
		}
		c.Kind = store.BanKind(k)
		c.Start, c.Until, c.Last = goTime(start), goTime(until), goTime(last)
		return c, nil
	}
	out, err := queryAll(ctx, s.rdb, scan, `SELECT kind, key, event, count, start, until, last FROM ban_counters
		WHERE kind = ? AND (? = '' OR key = ?) AND until > ? ORDER BY key, event`,
		string(kind), key, key, dbTime(now))
	if err != nil {
		return nil, fmt.Errorf("list ban counters %s %s: %w", kind, key, err)
	}
	return out, nil
}

// ResetBanCounters deletes the counters of (kind, key); none is no error.
func (s *Store) ResetBanCounters(ctx context.Context, kind store.BanKind, key string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM ban_counters WHERE kind = ? AND key = ?`, string(kind), key)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset ban counters %s %s: %w", kind, key, err)
	}
	return nil
}
