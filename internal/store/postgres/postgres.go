// Package postgres is the store for scale-out: PostgreSQL through pgx,
// where several crmsync processes share the sync work through leases.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/crmsync/crmsync/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect returns the PostgreSQL dialect.
func Dialect() sqlstore.Dialect {
	m, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:       "postgres",
		Migrations: m,
		Numbered:   true,
		ForUpdate:  " FOR UPDATE",
		ForShare:   " FOR SHARE",
		NowMicros:  `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT`,
		// One migrator at a time, held until its transaction ends. The key
		// is arbitrary but fixed ("crmsync" in ASCII).
		JSONAt: func(col string, keys ...string) string {
			return `((` + col + `)::jsonb #> '{` + strings.Join(keys, ",") + `}')::text`
		},
		LockMigrations: `SELECT pg_advisory_xact_lock(99114109115121110)`,
		IsUnique:       func(err error) bool { return pgCode(err) == "23505" },
		IsForeignKey:   func(err error) bool { return pgCode(err) == "23503" },
		ForeignKey:     foreignKey,
		// 40P01 deadlock_detected, 40001 serialization_failure: the
		// transaction lost a race and may be run again.
		IsRetryable: func(err error) bool { c := pgCode(err); return c == "40P01" || c == "40001" },
		// 53100 disk_full; the other class 53 errors (memory, connections)
		// are not a full disk.
		IsStorageFull: func(err error) bool { return pgCode(err) == "53100" },
	}
}

// foreignKey reads the Detail of a foreign-key violation:
// `Key (company_id)=(5) is not present in table "companies".` for a
// reference to a missing row, `Key (id)=(5) is still referenced from table
// "contacts".` for a delete of a referenced one.
// fkMissing captures the column of the first form.
var fkMissing = regexp.MustCompile(`^Key \(([a-z_]+)\)=.* is not present in table`)

func foreignKey(err error) (column string, inUse bool) {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return "", false
	}
	if strings.Contains(e.Detail, "is still referenced from table") {
		return "", true
	}
	if m := fkMissing.FindStringSubmatch(e.Detail); m != nil {
		return m[1], false
	}
	return "", false
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string; search_path may be given as a parameter). It does not
// migrate.
func Open(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s@%s:%d/%s: %w", cfg.User, cfg.Host, cfg.Port, cfg.Database, err)
	}
	return sqlstore.New(db, db, Dialect()), nil
}

// OpenDB wraps an existing pool (tests use it).
func OpenDB(db *sql.DB) *sqlstore.DB { return sqlstore.New(db, db, Dialect()) }
