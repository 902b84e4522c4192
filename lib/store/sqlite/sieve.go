package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"gannet/lib/store"
)

// Sieve scripts.
//
// Names are case-sensitive. A partial unique index keeps at most one script
// per account active. Following ManageSieve (RFC 5804), deleting the active
// script is refused, and renaming it keeps it active.

// Compile-time check that *Store is a store.SieveScripts.
var _ store.SieveScripts = (*Store)(nil)

// maxSieveNameBytes bounds a script name. RFC 5804 section 1.6 asks servers
// to allow at least 128 characters; 1024 bytes holds 128 of any script.
const maxSieveNameBytes = 1024

// checkSieveName applies RFC 5804 section 1.6: a name is UTF-8 without
// control characters (U+0000-U+001F, U+007F-U+009F) or the line and paragraph
// separators (U+2028, U+2029).
func checkSieveName(name string) error {
	if name == "" {
		return errors.New("empty script name")
	}
	if len(name) > maxSieveNameBytes {
		return fmt.Errorf("script name longer than %d bytes", maxSieveNameBytes)
	}
	if !utf8.ValidString(name) {
		return errors.New("script name is not UTF-8")
	}
	for _, r := range name {
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return fmt.Errorf("script name holds control character %U", r)
		}
	}
	return nil
}

// sieveColumns are the sieve_scripts columns in the order scanSieve reads
// them.
const sieveColumns = `account_id, name, content, active, updated`

func scanSieve(sc rowScanner) (store.SieveScript, error) {
	var out store.SieveScript
	var updated int64
	if err := sc.Scan(&out.AccountID, &out.Name, &out.Content, &out.Active, &updated); err != nil {
		return out, err
	}
	out.Updated = goTime(updated)
	return out, nil
}

// PutSieveScript creates script sc.Name of account sc.AccountID or replaces
// its content. When sc.Active is set it also becomes the active script;
// otherwise an existing script keeps its state (replacing the active
// script's content leaves it active, as PUTSCRIPT does in RFC 5804 section
// 2.6). sc.Updated is set to the time stored; sc.Active reports the state
// after the call. ErrNotFound when the account does not exist.
func (s *Store) PutSieveScript(ctx context.Context, sc *store.SieveScript) error {
	return s.PutSieveScriptWithin(ctx, sc, 0)
}

// PutSieveScriptWithin implements store.SieveScripts: PutSieveScript, the
// count of the account's other scripts checked in the same transaction.
func (s *Store) PutSieveScriptWithin(ctx context.Context, sc *store.SieveScript, maxScripts int) error {
	if err := checkSieveName(sc.Name); err != nil {
		return fmt.Errorf("put sieve script: %w", err)
	}
	now := dbTime(time.Now())
	var active bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		if maxScripts > 0 {
			var n, exists int
			if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(name = ?), 0) FROM sieve_scripts WHERE account_id = ?`,
				sc.Name, sc.AccountID).Scan(&n, &exists); err != nil {
				return err
			}
			if exists == 0 && n >= maxScripts {
				return fmt.Errorf("%d scripts already: %w", n, store.ErrQuotaExceeded)
			}
		}
		if sc.Active {
			if _, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = 0
				WHERE account_id = ? AND active = 1 AND name <> ?`, sc.AccountID, sc.Name); err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO sieve_scripts (account_id, name, content, active, updated)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account_id, name) DO UPDATE SET content = excluded.content,
				active = max(active, excluded.active), updated = excluded.updated
			RETURNING active`,
			sc.AccountID, sc.Name, sc.Content, boolInt(sc.Active), now).Scan(&active)
		return constraintError(err)
	})
	if err != nil {
		return fmt.Errorf("put sieve script %q of account %d: %w", sc.Name, sc.AccountID, err)
	}
	sc.Active = active
	sc.Updated = goTime(now)
	return nil
}

// GetSieveScript returns script name of the account, or ErrNotFound.
func (s *Store) GetSieveScript(ctx context.Context, accountID int64, name string) (*store.SieveScript, error) {
	sc, err := scanSieve(s.rdb.QueryRowContext(ctx, `SELECT `+sieveColumns+` FROM sieve_scripts
		WHERE account_id = ? AND name = ?`, accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sieve script %q of account %d: %w", name, accountID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get sieve script %q of account %d: %w", name, accountID, err)
	}
	return &sc, nil
}

// ActiveSieveScript returns the account's active script, or ErrNotFound.
func (s *Store) ActiveSieveScript(ctx context.Context, accountID int64) (*store.SieveScript, error) {
	sc, err := scanSieve(s.rdb.QueryRowContext(ctx, `SELECT `+sieveColumns+` FROM sieve_scripts
		WHERE account_id = ? AND active = 1`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("active sieve script of account %d: %w", accountID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("active sieve script of account %d: %w", accountID, err)
	}
	return &sc, nil
}

// ListSieveScripts lists the account's scripts by name, with content.
func (s *Store) ListSieveScripts(ctx context.Context, accountID int64) ([]store.SieveScript, error) {
	out, err := queryAll(ctx, s.rdb, scanSieve, `SELECT `+sieveColumns+` FROM sieve_scripts
		WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list sieve scripts of account %d: %w", accountID, err)
	}
	return out, nil
}

// ActivateSieveScript makes name the account's only active script; "" leaves
// none active (RFC 5804 section 2.8). ErrNotFound, with nothing changed,
// when there is no script name.
func (s *Store) ActivateSieveScript(ctx context.Context, accountID int64, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Deactivate first: the unique index allows one active row at a time.
		if _, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = 0
			WHERE account_id = ? AND active = 1 AND name <> ?`, accountID, name); err != nil {
			return err
		}
		if name == "" {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = 1
			WHERE account_id = ? AND name = ?`, accountID, name)
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
		return fmt.Errorf("activate sieve script %q of account %d: %w", name, accountID, err)
	}
	return nil
}

// RenameSieveScript renames a script, keeping its content and whether it is
// active (RFC 5804 section 2.11.1). ErrNotFound when oldName does not exist,
// ErrExists when newName does.
func (s *Store) RenameSieveScript(ctx context.Context, accountID int64, oldName, newName string) error {
	if err := checkSieveName(newName); err != nil {
		return fmt.Errorf("rename sieve script %q: %w", oldName, err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if oldName == newName {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?`,
				accountID, oldName).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			if err != nil {
				return err
			}
			return store.ErrExists
		}
		res, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET name = ?, updated = ?
			WHERE account_id = ? AND name = ?`, newName, dbTime(time.Now()), accountID, oldName)
		if err != nil {
			return constraintError(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename sieve script %q to %q of account %d: %w", oldName, newName, accountID, err)
	}
	return nil
}

// DeleteSieveScript deletes a script. Deleting the active script is refused
// with an error wrapping store.ErrExists (RFC 5804 section 2.10: the server
// answers NO (ACTIVE)); deactivate it first. ErrNotFound when there is no
// such script.
func (s *Store) DeleteSieveScript(ctx context.Context, accountID int64, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var active bool
		err := tx.QueryRowContext(ctx, `SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?`,
			accountID, name).Scan(&active)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if active {
			return fmt.Errorf("script is active: %w", store.ErrExists)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?`, accountID, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete sieve script %q of account %d: %w", name, accountID, err)
	}
	return nil
}
