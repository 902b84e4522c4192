package sqlite

import (
	"context"
	"database/sql"
)

// queryer runs a query returning rows: *sql.DB, *sql.Conn and *sql.Tx
// all fit.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// rowScanner reads the current row into dest: *sql.Row and *sql.Rows both
// fit, so one scan function serves single lookups and lists.
type rowScanner interface {
	Scan(dest ...any) error
}

// queryAll runs query through q and returns every row read by scan, in
// order; nil when there are none. Errors are returned as they come: the
// caller adds its context.
func queryAll[T any](ctx context.Context, q queryer, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	// A failed close after the last row shows in Err: database/sql closes
	// rows when Next returns false.
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// scanInt64 reads a row of one integer column.
func scanInt64(sc rowScanner) (int64, error) {
	var n int64
	err := sc.Scan(&n)
	return n, err
}
