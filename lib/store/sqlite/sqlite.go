// Package sqlite implements store.Store on SQLite through modernc.org/sqlite.
//
// The database runs in WAL mode with synchronous=FULL, so a transaction is on
// disk when its COMMIT returns. Every write transaction starts with BEGIN
// IMMEDIATE (a deferred transaction that later upgrades to a write lock fails
// with SQLITE_BUSY across processes even with a busy timeout), and writes that
// still meet SQLITE_BUSY are retried until their context ends, so several OS
// processes can share one database file. Reads go through a separate pool of
// query-only connections.
//
// Ingest uses group commit: concurrent AddMessages calls join one transaction,
// each in its own SAVEPOINT, and share its single fsync.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"gannet/lib/store"
)

// Defaults for zero Options fields.
const (
	DefaultBusyTimeout     = 5 * time.Second
	DefaultReadConnections = 4
	DefaultGroupCommitMax  = 256
)

// Options configures Open. Zero values take defaults.
type Options struct {
	// Path is the database file; it is created when missing.
	Path string
	// BusyTimeout is how long one SQLite call waits for a lock held by
	// another connection before a write is retried (default 5s).
	BusyTimeout time.Duration
	// ReadConnections is the size of the read-only pool (default 4).
	ReadConnections int
	// GroupCommitWindow, when positive, holds a group-commit batch open this
	// long after its first member arrives to let more join. Zero (the
	// default) needs no timer: whoever arrives while a commit is in flight
	// joins the next batch, which starts as soon as that commit finishes.
	GroupCommitWindow time.Duration
	// GroupCommitMax caps the members of one batch (default 256).
	GroupCommitMax int
	// OnChange, when set, is called after each committed change of an
	// account with the account's new modification sequence. It runs on the
	// committing goroutine and must not block.
	OnChange func(accountID int64, modseq uint64)
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
}

// Stats counts the work a Store has done since Open.
type Stats struct {
	// Commits counts committed write transactions. With synchronous=FULL in
	// WAL mode each commit is one fsync of the write-ahead log.
	Commits int64
	// Messages counts messages stored by AddMessages and CopyMessages.
	Messages int64
	// Batches counts group-commit batches; GroupedCalls the calls they held.
	Batches      int64
	GroupedCalls int64
	// BusyRetries counts write transactions retried after SQLITE_BUSY.
	BusyRetries int64
}

// Store is a store.Store on one SQLite database file.
type Store struct {
	opts Options
	log  *slog.Logger

	// wdb holds the single write connection; rdb is the query-only pool.
	wdb *sql.DB
	rdb *sql.DB

	// wmu serialises this process's write transactions, so that pending
	// change notifications belong to the transaction in flight.
	wmu     sync.Mutex
	pending []change
	// stmts holds hotQueries prepared on the write connection; read-only
	// after Open.
	stmts map[string]*sql.Stmt
	// reads runs hot lookups through statements prepared on rdb.
	reads preparedReader

	// Group commit state: queue holds callers waiting for the next batch;
	// running is true while a batch runner goroutine exists.
	gmu     sync.Mutex
	queue   []*groupReq
	running bool

	// base ends at Close; background work (batches) watches it.
	base   context.Context
	cancel context.CancelFunc

	commits      atomic.Int64
	messages     atomic.Int64
	batches      atomic.Int64
	groupedCalls atomic.Int64
	busyRetries  atomic.Int64
}

// Store implements the whole interface.
var _ store.Store = (*Store)(nil)

// change is an OnChange call waiting for its transaction to commit.
type change struct {
	accountID int64
	modseq    uint64
}

// Open opens (creating if needed) the database at opts.Path and applies any
// pending schema migrations.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	if strings.ContainsAny(opts.Path, "?#") {
		return nil, fmt.Errorf("sqlite: open %s: path must not contain ? or #", opts.Path)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.ReadConnections <= 0 {
		opts.ReadConnections = DefaultReadConnections
	}
	if opts.GroupCommitMax <= 0 {
		opts.GroupCommitMax = DefaultGroupCommitMax
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{opts: opts, log: opts.Logger, stmts: map[string]*sql.Stmt{}}
	s.base, s.cancel = context.WithCancel(context.Background())

	var err error
	s.wdb, err = sql.Open("sqlite", dsn(opts, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	// SQLite has one writer at a time; one connection per process is all
	// that helps, and it keeps the pending-change list simple.
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)

	if err := s.connectWriter(ctx); err != nil {
		s.cancel()
		s.wdb.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.cancel()
		s.wdb.Close()
		return nil, err
	}
	if err := s.prepareHot(ctx); err != nil {
		s.cancel()
		s.wdb.Close()
		return nil, err
	}

	s.rdb, err = sql.Open("sqlite", dsn(opts, true))
	if err != nil {
		s.cancel()
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", opts.Path, err)
	}
	s.reads.db = s.rdb
	s.rdb.SetMaxOpenConns(opts.ReadConnections)
	s.rdb.SetMaxIdleConns(opts.ReadConnections)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.rdb.PingContext(ctx); err != nil {
		s.cancel()
		s.wdb.Close()
		s.rdb.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", opts.Path, err)
	}
	return s, nil
}

// connectWriter opens the write connection. Switching a new file to WAL
// takes a lock another process may hold for a moment, so SQLITE_BUSY here
// is retried like any write.
func (s *Store) connectWriter(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := s.wdb.PingContext(ctx)
		if err == nil {
			return nil
		}
		if !isBusy(err) {
			return fmt.Errorf("sqlite: open %s: %w", s.opts.Path, err)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return fmt.Errorf("sqlite: open %s: %w", s.opts.Path, err)
		}
	}
}

// dsn builds the modernc.org/sqlite data source name.
func dsn(opts Options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		// The pool never writes: query_only makes that a rule rather than a
		// habit. It still opens the file read-write so the WAL index can be
		// mapped even when the writer is another process.
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	return opts.Path + "?" + q.Encode()
}

// Close releases the store's connections. Calls in flight may fail.
func (s *Store) Close() error {
	s.cancel()
	var errs []error
	errs = append(errs, s.reads.close())
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.wdb.Close())
	return errors.Join(errs...)
}

// Stats reports counters since Open.
func (s *Store) Stats() Stats {
	return Stats{
		Commits:      s.commits.Load(),
		Messages:     s.messages.Load(),
		Batches:      s.batches.Load(),
		GroupedCalls: s.groupedCalls.Load(),
		BusyRetries:  s.busyRetries.Load(),
	}
}

var errClosed = errors.New("sqlite: store closed")

// isBusy reports whether err is SQLITE_BUSY (any extended code) or
// SQLITE_LOCKED, errors that go away when the transaction is retried.
func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// constraintError maps SQLite constraint failures to the store's errors:
// UNIQUE and PRIMARY KEY to ErrExists, FOREIGN KEY to ErrNotFound. Other
// errors come back unchanged.
func constraintError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %v", store.ErrExists, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

// backoff sleeps a little before retry number attempt, or returns ctx's
// error (or an error after Close).
func (s *Store) backoff(ctx context.Context, attempt int) error {
	d := time.Millisecond << min(attempt, 6) // 1ms .. 64ms
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.base.Done():
		return errClosed
	case <-t.C:
		return nil
	}
}

// write runs fn in one BEGIN IMMEDIATE transaction and commits it. When
// SQLite reports SQLITE_BUSY (another process held the lock past the busy
// timeout) the whole transaction is retried until ctx ends, so fn must be
// safe to run again. fn's own errors roll back and return unchanged.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		if err == nil || !isBusy(err) {
			return err
		}
		s.busyRetries.Add(1)
		if berr := s.backoff(ctx, attempt); berr != nil {
			return fmt.Errorf("%w (after %v)", berr, err)
		}
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.pending = s.pending[:0]
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		s.pending = s.pending[:0]
		return err
	}
	if err := tx.Commit(); err != nil {
		s.pending = s.pending[:0]
		return fmt.Errorf("commit: %w", err)
	}
	s.commits.Add(1)
	s.flushChanges()
	return nil
}

// hotQueries are prepared once on the write connection at Open and reused
// by every transaction (see execP): the ingest path then skips SQLite's
// parser and planner.
var hotQueries = []string{
	qAccountChange, qNextUID, qBlobRef, qBlobInsert, qChunkInsert, qThreadLookup,
	qMessageInsert, qThreadSet, qThreadRefs, qChangeInsert, qTouchMailbox, qDeliveryKey,
}

// prepareHot prepares hotQueries on the (idle) write connection.
func (s *Store) prepareHot(ctx context.Context) error {
	for _, q := range hotQueries {
		st, err := s.wdb.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %.40q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// execP and queryRowP run query in tx, through its prepared statement when
// it is one of hotQueries.
func (s *Store) execP(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

func (s *Store) queryRowP(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// changed queues an OnChange call for after the current write transaction
// commits. It must be called from inside a write or grouped fn.
func (s *Store) changed(accountID int64, modseq uint64) {
	s.pending = append(s.pending, change{accountID, modseq})
}

// flushChanges delivers the pending changes, the highest modseq per account
// once. Called with wmu held, after a commit.
func (s *Store) flushChanges() {
	if len(s.pending) == 0 || s.opts.OnChange == nil {
		s.pending = s.pending[:0]
		return
	}
	// Usually one account: keep the order of first appearance.
	var out []change
	for _, c := range s.pending {
		found := false
		for i := range out {
			if out[i].accountID == c.accountID {
				out[i].modseq = max(out[i].modseq, c.modseq)
				found = true
				break
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	s.pending = s.pending[:0]
	for _, c := range out {
		s.opts.OnChange(c.accountID, c.modseq)
	}
}

// dbTime converts a time to the stored form, Unix milliseconds (0 for the
// zero time).
func dbTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// goTime converts a stored time back (0 is the zero time), in UTC.
func goTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// boolInt stores a bool as 0 or 1.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// preparedReader runs read queries through statements prepared once on the
// read pool (database/sql prepares each again on the connections it runs
// on), so that the lookups every delivery makes skip SQLite's parser. The
// queries are constants of this package or, for the spam state's lookups,
// IN lists of at most maxStateKeys placeholders, so the map stays small.
type preparedReader struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// QueryRowContext runs query through its prepared statement, or directly
// when it cannot be prepared (the error then shows in the row).
func (p *preparedReader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return p.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryContext runs query through its prepared statement, or directly
// when it cannot be prepared.
func (p *preparedReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return p.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// stmt returns query's statement, preparing it the first time.
func (p *preparedReader) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[query]; ok {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if p.stmts == nil {
		p.stmts = map[string]*sql.Stmt{}
	}
	p.stmts[query] = st
	return st, nil
}

// close closes the prepared statements.
func (p *preparedReader) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for q, st := range p.stmts {
		errs = append(errs, st.Close())
		delete(p.stmts, q)
	}
	return errors.Join(errs...)
}
