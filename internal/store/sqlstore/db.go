// Package sqlstore implements store.Store over database/sql. The SQLite and
// PostgreSQL packages are dialects of it: they supply the driver, the
// migrations and the handful of statements the two databases spell
// differently. Everything else — and so every rule about visibility,
// limits and fencing — is written once, here.
//
// Queries are written with ? placeholders and rebound to $n for PostgreSQL.
// Timestamps are stored as Unix microseconds (BIGINT) in both databases, and
// list-like fields (emails, domains, opportunity contacts) live in child
// tables so that linking can look them up by index.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// Dialect is what differs between databases.
type Dialect struct {
	Name string
	// Migrations holds NNNN_name.sql files applied in order.
	Migrations fs.FS
	// Numbered placeholders ($1) instead of ?.
	Numbered bool
	// ForUpdate locks the rows a read-modify-write transaction reads
	// (" FOR UPDATE"); "" where the database serialises writers anyway.
	ForUpdate string
	// ForShare locks a lease row while a fenced write commits.
	ForShare string
	// NowMicros is an SQL expression for the database's clock in Unix
	// microseconds. Leases use the database clock so that processes on
	// different machines agree on expiry.
	NowMicros string
	// LockMigrations, when not empty, runs first in every migration
	// transaction so that two processes migrating at once take turns.
	LockMigrations string
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(error) bool
	// IsForeignKey reports whether err is a foreign-key violation.
	IsForeignKey func(error) bool
	// ForeignKey tells what the driver says about a foreign-key violation:
	// the referencing column of a reference to a missing row ("" when the
	// driver does not say), or inUse for a delete of a row still
	// referenced. Nil when the driver says nothing.
	ForeignKey func(err error) (column string, inUse bool)
	// IsRetryable reports whether err means the transaction lost a race
	// with another one (a deadlock, a serialization failure, a busy
	// database) and would succeed if run again from the start.
	IsRetryable func(error) bool
	// IsStorageFull reports whether err means the database's disk (or its
	// size limit) is full.
	IsStorageFull func(error) bool
	// JSONAt is an SQL expression for the JSON text at keys inside the
	// JSON held in the text column col (NULL when absent): a list reads
	// a few fields of a large document without fetching all of it.
	JSONAt func(col string, keys ...string) string
}

// DB is a store.Store on one database.
type DB struct {
	r, w  *sql.DB // readers; writers (the same pool but for SQLite)
	d     Dialect
	qs    sync.Map // query text -> rebound text
	Clock func() time.Time
	// queue queues webhook deliveries in their transaction (SetWebhookQueue).
	queue atomic.Pointer[WebhookQueue]
}

var _ store.Store = (*DB)(nil)

// New wraps open pools. For SQLite, w must be a single-connection pool that
// begins transactions with BEGIN IMMEDIATE, so writers queue instead of
// failing with SQLITE_BUSY; r may have several connections (WAL readers).
func New(r, w *sql.DB, d Dialect) *DB {
	return &DB{r: r, w: w, d: d, Clock: time.Now}
}

// Dialect names the database.
func (db *DB) Dialect() string { return db.d.Name }

// Close closes the pools.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Readers and Writers expose the pools to tests and benchmarks of dialects.
func (db *DB) Readers() *sql.DB { return db.r }

// Writers is the pool writes go through (for SQLite, one connection).
func (db *DB) Writers() *sql.DB { return db.w }

// q rebinds a query written with ? to the dialect's placeholders.
func (db *DB) q(query string) string {
	if !db.d.Numbered {
		return query
	}
	if v, ok := db.qs.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	out := b.String()
	db.qs.Store(query, out)
	return out
}

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// tx runs fn in a write transaction, committing if it returns nil. A
// transaction that loses a race with another one (deadlock, serialization
// failure, busy database) is run again from the start, so fn must only
// write to the database and to variables it sets afresh on each run. The
// final error is classified (see classify).
func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.classify(db.retry(ctx, func() error { return db.tx1(ctx, fn) }))
}

// tx1 is one attempt of tx.
func (db *DB) tx1(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// fencedTx is tx with the lease check of f made first, inside the
// transaction, holding a share lock on the lease row where the database
// has row locks: the lease cannot change hands before this commit.
func (db *DB) fencedTx(ctx context.Context, f store.Fence, fn func(tx *sql.Tx) error) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx, f); err != nil {
			return err
		}
		return fn(tx)
	})
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func optMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromOptMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func optInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func fromOptInt(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	x := v.Int64
	return &x
}

// now is the application clock, truncated to what the database keeps.
func (db *DB) now() time.Time { return db.Clock().UTC().Truncate(time.Microsecond) }

// likePattern makes a case-insensitive substring pattern for
// "lower(col) LIKE ? ESCAPE '\'".
func likePattern(q string) string {
	q = strings.ToLower(q)
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// boolInt is a boolean column's value (0 or 1: both dialects store
// flags as integers).
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
