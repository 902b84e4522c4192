package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// schemaFS holds the migrations, schema/NNN_name.sql, applied in order of NNN.
//
//go:embed schema/*.sql
var schemaFS embed.FS

// migration is one schema file.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations in order. Two files with the same
// number are an error.
func migrations() ([]migration, error) {
	names, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share number %d", prev, base, v)
		}
		seen[v] = base
		b, err := fs.ReadFile(schemaFS, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaVersion is the schema version this build brings the database to.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate applies the migrations newer than PRAGMA user_version, all in one
// BEGIN IMMEDIATE transaction. Two processes starting at once are safe: the
// second waits for the first's lock, then finds the version already bumped
// and applies nothing. A database newer than this build is refused.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var cur int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
			return err
		}
		latest := 0
		if len(ms) > 0 {
			latest = ms[len(ms)-1].version
		}
		if cur > latest {
			return fmt.Errorf("database schema version %d is newer than this program's %d", cur, latest)
		}
		for _, m := range ms {
			if m.version <= cur {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			// PRAGMA takes no parameters; the version is an integer we made.
			if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version)); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			s.log.Info("applied schema migration", "file", m.name, "db", s.opts.Path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", s.opts.Path, err)
	}
	return nil
}
