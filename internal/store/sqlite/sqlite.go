// Package sqlite is the default store: an embedded SQLite database in one
// file, through the pure-Go modernc.org/sqlite driver (no cgo).
//
// SQLite allows one writer at a time. Writes go through a pool of a single
// connection that begins every transaction with BEGIN IMMEDIATE, so writers
// queue in Go instead of failing with SQLITE_BUSY; reads use a separate pool
// and run concurrently thanks to WAL mode. Other processes opening the same
// file (tests racing for a lease, `crmsync keys rotate` beside a server)
// wait on busy_timeout.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect returns the SQLite dialect.
func Dialect() sqlstore.Dialect {
	m, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:       "sqlite",
		Migrations: m,
		NowMicros:  `CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)`,
		// -> always answers JSON text (json_extract unquotes strings).
		JSONAt: func(col string, keys ...string) string { return col + ` -> '$.` + strings.Join(keys, ".") + `'` },
		IsUnique: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
		},
		IsForeignKey: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
		},
		// SQLite names neither the column nor the direction of a
		// foreign-key failure; writers are serialised, so the checks made
		// inside the transaction see every reference before it is used.
		ForeignKey: nil,
		// Writers queue on one connection with BEGIN IMMEDIATE, so BUSY
		// comes only from another process holding the file past
		// busy_timeout (crmsync keys rotate beside a server).
		IsRetryable: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED)
		},
		IsStorageFull: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_FULL
		},
	}
}

// Open opens (creating if needed) the database file at path. It does not
// migrate: callers check SchemaVersion or call Migrate.
func Open(ctx context.Context, path string) (*sqlstore.DB, error) {
	path = strings.TrimPrefix(path, "sqlite:")
	path = strings.TrimPrefix(path, "file:")
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	params := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		params.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + params.Encode()
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	return sqlstore.New(r, w, Dialect()), nil
}

var _ store.Store = (*sqlstore.DB)(nil)
