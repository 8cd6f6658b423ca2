// Package storetest is the conformance suite every store.Store
// implementation must pass, and the helpers that open a fresh, isolated,
// migrated database of each kind for tests.
//
// PostgreSQL tests use the server named by CRMSYNC_TEST_POSTGRES (a DSN)
// and give each test its own schema, dropped at the end. Without the
// variable they are skipped — except under CI=true, where a missing
// database is a failure: the PostgreSQL run is required.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/postgres"
	"github.com/crmsync/crmsync/internal/store/sqlite"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
)

// Factory opens a fresh, migrated database for one test. reopen opens
// another handle (its own connections) on the same database, as a second
// process would.
type Factory func(t testing.TB) (s *sqlstore.DB, reopen func(t testing.TB) *sqlstore.DB)

// SQLite is the Factory for SQLite: a new file in t.TempDir().
func SQLite(t testing.TB) (*sqlstore.DB, func(testing.TB) *sqlstore.DB) {
	s, open := sqliteEmpty(t)
	return migrated(t, s), open
}

// SQLiteEmpty is a new SQLite database no migration has touched, for
// upgrade tests.
func SQLiteEmpty(t testing.TB) *sqlstore.DB { s, _ := sqliteEmpty(t); return s }

func sqliteEmpty(t testing.TB) (*sqlstore.DB, func(testing.TB) *sqlstore.DB) {
	path := filepath.Join(t.TempDir(), "crmsync.db")
	open := func(t testing.TB) *sqlstore.DB {
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(t), open
}

func migrated(t testing.TB, s *sqlstore.DB) *sqlstore.DB {
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// PostgresDSN returns the test server's DSN, skipping (or, under CI,
// failing) the test when there is none.
func PostgresDSN(t testing.TB) string {
	dsn := os.Getenv("CRMSYNC_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CRMSYNC_TEST_POSTGRES is not set: the PostgreSQL run is required in CI (set it to a DSN such as postgres://postgres@127.0.0.1:5432/test)")
		}
		t.Skip("CRMSYNC_TEST_POSTGRES not set; skipping the PostgreSQL run")
	}
	return dsn
}

// Postgres is the Factory for PostgreSQL: a new schema per test.
func Postgres(t testing.TB) (*sqlstore.DB, func(testing.TB) *sqlstore.DB) {
	s, open := postgresEmpty(t)
	return migrated(t, s), open
}

// PostgresEmpty is a new PostgreSQL schema no migration has touched, for
// upgrade tests.
func PostgresEmpty(t testing.TB) *sqlstore.DB { s, _ := postgresEmpty(t); return s }

func postgresEmpty(t testing.TB) (*sqlstore.DB, func(testing.TB) *sqlstore.DB) {
	dsn := PostgresDSN(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "crmsync_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		t.Fatalf("creating test schema on %s: %v", dsn, err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	sdsn := WithSearchPath(dsn, schema)
	open := func(t testing.TB) *sqlstore.DB {
		s, err := postgres.Open(ctx, sdsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(t), open
}

// WithSearchPath adds a search_path run-time parameter to a DSN in either
// URL or key=value form.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" database/sql driver

var _ store.Store = (*sqlstore.DB)(nil)
