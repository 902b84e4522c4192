// Package sievequery runs the read-only SQL queries of Gannet's Sieve
// extension vnd.gannet.query (query :set "name" "SELECT ..."): it is what
// callers put in sieve.Env.Query.
//
// Security. Query text comes from scripts, and scripts interpolate
// variables (${envelope.from}, header values) into it, so every query is
// treated as hostile:
//
//   - Databases are opened read-only (a file: URI with mode=ro) and every
//     connection has PRAGMA query_only = 1.
//   - The text must be one SELECT or WITH statement (after comments); a
//     second statement, or any other kind, is refused before SQLite sees
//     it.
//   - An authorizer (sqlite3_set_authorizer) installed on every connection
//     allows only reading tables and calling functions: ATTACH, PRAGMA,
//     writes, schema changes and transactions are denied whatever the text
//     looks like, and so are load_extension and similar functions.
//   - Which databases a query can reach is fixed when the DB is opened:
//     Open's main database (the administrator's [sieve] query_database, or
//     an empty in-memory one) and, only when Options.StorePath is set, the
//     mail store attached read-only as schema "store". The store's
//     credentials (password hashes, SCRAM keys, application passwords,
//     private keys) cannot be read even then: such reads are denied.
//   - Each query runs under a timeout (interrupted at its end), its text
//     is at most MaxQuery bytes, values SQLite builds at most MaxValue bytes,
//     and the result at most MaxResult bytes (longer is an error).
//
// Callers decide who gets the store: lib/deliver gives personal scripts
// (written by users over ManageSieve) only the query_database, never the
// store; smtpd's administrator stage scripts get both.
package sievequery

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Bounds of a query.
const (
	// MaxQuery bounds the text of one query, in bytes.
	MaxQuery = 64 << 10
	// MaxArgs bounds the values bound to a query's parameters (each one
	// is bounded by MaxValue).
	MaxArgs = 32
	// MaxResult bounds the value a query returns, in bytes; a longer one
	// is an error rather than a silently cut value.
	MaxResult = 64 << 10
	// MaxValue bounds any string or blob SQLite builds while running a
	// query (SQLITE_LIMIT_LENGTH): reading a larger stored value fails.
	MaxValue = 1 << 20
	// DefaultTimeout is the timeout when Options.Timeout is zero.
	DefaultTimeout = time.Second
	// maxConns bounds the connections of one DB.
	maxConns = 4
)

// StoreSchema is the schema name under which the mail store is attached.
// SQLite resolves a table name without a schema in main first and then in
// the attached databases, so "SELECT count(*) FROM accounts" reaches the
// store's accounts unless the main database has a table of that name.
const StoreSchema = "store"

// Options configure a DB.
type Options struct {
	// Path is the SQLite database file queries run against as "main"; ""
	// is an empty in-memory database (useful with StorePath).
	Path string
	// StorePath, when set, attaches the mail store's database file
	// read-only as schema "store" (StoreSchema). Only administrators'
	// scripts may be given such a DB.
	StorePath string
	// Timeout bounds each query; zero is DefaultTimeout.
	Timeout time.Duration
	// BusyTimeout is how long a query waits for a lock; zero is Timeout.
	BusyTimeout time.Duration
}

// DB runs queries for scripts. It is safe for concurrent use.
type DB struct {
	db      *sql.DB
	timeout time.Duration
}

// Open prepares a DB. Files are opened on the first query: a missing file
// is that query's error.
func Open(o Options) (*DB, error) {
	if strings.ContainsAny(o.Path, "\x00") || strings.ContainsAny(o.StorePath, "\x00") {
		return nil, errors.New("sievequery: database path contains NUL")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = o.Timeout
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "query_only(1)")
	var main string
	if o.Path == "" {
		q.Set("mode", "memory")
		main = "file:sievequery?" + q.Encode()
	} else {
		main = fileURI(o.Path, q)
	}
	drv := &sqlite.Driver{}
	storeURI := ""
	if o.StorePath != "" {
		storeURI = fileURI(o.StorePath, url.Values{})
	}
	drv.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, _ string) error {
		if storeURI != "" {
			// Before the authorizer, which denies ATTACH.
			if _, err := c.ExecContext(context.Background(), "ATTACH DATABASE ? AS "+StoreSchema, []driver.NamedValue{{Ordinal: 1, Value: storeURI}}); err != nil {
				return fmt.Errorf("sievequery: attach the store: %w", err)
			}
		}
		ar, ok := c.(sqlite.AuthorizerRegisterer)
		if !ok {
			return errors.New("sievequery: the SQLite driver has no authorizer")
		}
		return ar.RegisterAuthorizer(authorize)
	})
	db := sql.OpenDB(connector{drv, main})
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	// A database the administrator replaces (a new file renamed over the
	// old one) is seen within a minute.
	db.SetConnMaxLifetime(time.Minute)
	return &DB{db: db, timeout: o.Timeout}, nil
}

// fileURI is a read-only SQLite URI for path with the driver's parameters.
func fileURI(path string, q url.Values) string {
	q.Set("mode", "ro")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	if !strings.HasPrefix(path, "/") {
		// A relative path: file:rel/path (no authority).
		u = url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	}
	return u.String()
}

// connector opens connections of a private driver, so that its hook (the
// authorizer) applies to these connections only.
type connector struct {
	drv *sqlite.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// Close closes the connections.
func (d *DB) Close() error { return d.db.Close() }

// Query runs one read-only SELECT (or WITH ... SELECT) statement, args
// bound to its parameters as text, and returns the first column of its
// first row as text: "" when there is no row or the value is NULL. It has
// the signature of sieve.Env.Query.
func (d *DB) Query(ctx context.Context, query string, args []string) (string, error) {
	params, err := scan(query)
	if err != nil {
		return "", err
	}
	if len(args) != params {
		return "", fmt.Errorf("the query has %d parameters, %d arguments given", params, len(args))
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("open the database: %w", err)
	}
	defer conn.Close()
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, MaxValue); err != nil {
		return "", fmt.Errorf("limit the database: %w", err)
	}
	bound := make([]any, len(args))
	for i, a := range args {
		bound[i] = a
	}
	rows, err := conn.QueryContext(ctx, query, bound...)
	if err != nil {
		return "", queryErr(ctx, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", queryErr(ctx, err)
		}
		return "", nil
	}
	cols, err := rows.Columns()
	if err != nil {
		return "", queryErr(ctx, err)
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", queryErr(ctx, err)
	}
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals[0]) > MaxResult {
		return "", fmt.Errorf("result of %d bytes is too long (at most %d)", len(vals[0]), MaxResult)
	}
	return string(vals[0]), nil
}

// queryErr words a query's failure, naming the timeout.
func queryErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("query interrupted: %w", ctx.Err())
	}
	return fmt.Errorf("query failed: %w", err)
}

// Check refuses a query that is not one SELECT or WITH statement: anything
// after the first statement's end but spaces, comments and semicolons, or
// a first keyword other than SELECT, WITH or VALUES.
func Check(query string) error {
	_, err := scan(query)
	return err
}

// scan is Check, also counting the query's parameters: the highest index
// of its ? and ?NNN (SQLite numbers a bare ? one past the highest so far).
// Named parameters (:name, @name, $name) are refused: the arguments of
// vnd.gannet.query are a list.
func scan(query string) (params int, err error) {
	if len(query) > MaxQuery {
		return 0, fmt.Errorf("query of %d bytes is too long (at most %d)", len(query), MaxQuery)
	}
	if strings.IndexByte(query, 0) >= 0 {
		return 0, errors.New("query contains NUL")
	}
	first := ""
	end := -1 // offset of the first statement's ';'
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				i = len(query)
			} else {
				i += j + 1
			}
			continue
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				i = len(query)
			} else {
				i += j + 4
			}
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
			i++
			continue
		}
		if end >= 0 {
			if c == ';' {
				i++
				continue
			}
			return 0, errors.New("only one statement is allowed")
		}
		switch {
		case c == ';':
			end = i
			i++
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closing := c
			if c == '[' {
				closing = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(query[j:], closing)
				if k < 0 {
					return 0, errors.New("unterminated quoted text")
				}
				j += k + 1
				// A doubled quote is an escaped one (not within [...]).
				if closing != ']' && j < len(query) && query[j] == closing {
					j++
					continue
				}
				break
			}
			if first == "" {
				first = "?"
			}
			i = j
		case c == '?':
			j := i + 1
			for j < len(query) && '0' <= query[j] && query[j] <= '9' {
				j++
			}
			n := params + 1
			if j > i+1 {
				if n, err = strconv.Atoi(query[i+1 : j]); err != nil || n < 1 || n > MaxArgs {
					return 0, fmt.Errorf("parameter %s: at most ?%d", query[i:j], MaxArgs)
				}
			}
			params = max(params, n)
			i = j
		case (c == ':' || c == '@' || c == '$') && i+1 < len(query) && isWordByte(query[i+1]):
			return 0, fmt.Errorf("named parameter %c...: use ? or ?NNN", c)
		default:
			j := i
			for j < len(query) && isWordByte(query[j]) {
				j++
			}
			if j == i {
				j++
			}
			if first == "" {
				first = strings.ToUpper(query[i:j])
			}
			i = j
		}
	}
	switch first {
	case "SELECT", "WITH", "VALUES":
		return params, nil
	case "":
		return 0, errors.New("empty query")
	}
	return 0, fmt.Errorf("only SELECT statements are allowed, not %s", first)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// deniedFunctions are SQL functions no query may call: they reach outside
// the database or change the connection.
var deniedFunctions = map[string]bool{
	"load_extension": true,
	"fts3_tokenizer": true,
	"readfile":       true,
	"writefile":      true,
	"edit":           true,
}

// rawTables are virtual tables that read a database's pages or layout
// around the column checks.
var rawTables = map[string]bool{
	"sqlite_dbpage": true,
	"dbstat":        true,
}

// secretTables are the store's tables no column of which may be read.
var secretTables = map[string]bool{
	"app_passwords": true,
	"dkim_keys":     true,
}

// secretColumn reports whether a column of the store holds a credential or
// a private key.
func secretColumn(table, column string) bool {
	if secretTables[strings.ToLower(table)] {
		return true
	}
	c := strings.ToLower(column)
	for _, w := range []string{"password", "scram", "secret", "private", "key_pem"} {
		if strings.Contains(c, w) {
			return true
		}
	}
	return false
}

// authorize is every connection's authorizer: reading and calling
// functions only, and none of the store's secrets.
func authorize(action sqlite.AuthorizerActionCode, arg1, arg2, dbName, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthRead:
		if rawTables[strings.ToLower(arg1)] {
			return sqlite.AuthorizerDeny
		}
		if strings.EqualFold(dbName, StoreSchema) && secretColumn(arg1, arg2) {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	case sqlite.AuthFunction:
		if deniedFunctions[strings.ToLower(arg2)] {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	}
	return sqlite.AuthorizerDeny
}
