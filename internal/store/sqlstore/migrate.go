package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrations are numbered files, NNNN_what.sql, applied in order, each in
// its own transaction together with the row recording it in
// schema_migrations. They are append-only: a released migration is never
// edited, a change is a new file.

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	entries, err := fs.ReadDir(db.d.Migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: reading migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration file %q must be named NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(db.d.Migrations, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlstore: migrations must be numbered 1, 2, 3… without gaps; found %s at position %d", m.name, i+1)
		}
	}
	return out, nil
}

const createVersionTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`

// SchemaVersion returns the applied and the expected schema versions. A
// database never migrated is at version 0.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	ms, err := db.migrations()
	if err != nil {
		return 0, 0, err
	}
	current, err = db.currentVersion(ctx, db.r)
	return current, len(ms), err
}

func (db *DB) currentVersion(ctx context.Context, q queryer) (int, error) {
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	if err != nil {
		// No version table yet: a new, empty database. Any other error is
		// returned so that a database that cannot be read is not taken for
		// an empty one.
		if exists, e2 := db.versionTableExists(ctx, q); e2 == nil && !exists {
			return 0, nil
		}
		return 0, fmt.Errorf("sqlstore: reading schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (db *DB) versionTableExists(ctx context.Context, q queryer) (bool, error) {
	var query string
	if db.d.Name == "postgres" {
		query = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`
	} else {
		query = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	}
	var n int
	if err := q.QueryRowContext(ctx, query).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// Migrate applies the pending migrations and returns how many it applied.
// Several processes may call it at once: each migration re-checks the
// version inside its transaction, behind the dialect's lock.
func (db *DB) Migrate(ctx context.Context) (int, error) { return db.MigrateTo(ctx, 0) }

// MigrateTo is Migrate up to version (all of them when 0). Upgrade tests
// use it to build a database as an older crmsync left it.
func (db *DB) MigrateTo(ctx context.Context, version int) (int, error) {
	ms, err := db.migrations()
	if err != nil {
		return 0, err
	}
	if version > 0 && version < len(ms) {
		ms = ms[:version]
	}
	if _, err := db.w.ExecContext(ctx, createVersionTable); err != nil && !db.d.IsUnique(err) {
		return 0, fmt.Errorf("sqlstore: creating schema_migrations: %w", err)
	}
	applied := 0
	for _, m := range ms {
		apply := func(tx *sql.Tx) error { return db.apply(ctx, tx, m) }
		var err error
		if db.d.Name == "sqlite" && strings.Contains(m.sql, noForeignKeys) {
			err = db.withoutForeignKeys(ctx, apply)
		} else {
			err = db.tx(ctx, apply)
		}
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

// apply runs one migration in tx unless another process applied it.
func (db *DB) apply(ctx context.Context, tx *sql.Tx, m migration) error {
	if db.d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, db.d.LockMigrations); err != nil {
			return err
		}
	}
	cur, err := db.currentVersion(ctx, tx)
	if err != nil {
		return err
	}
	if cur >= m.version {
		return errSkip
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
	}
	_, err = tx.ExecContext(ctx, db.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.version, m.name, micros(db.now()))
	return err
}

// noForeignKeys marks a SQLite migration that rebuilds a table (SQLite
// cannot change a CHECK constraint in place): it runs with foreign keys
// off, since dropping the old table with them on would delete the rows
// that reference it (ON DELETE CASCADE), and is checked with
// foreign_key_check before it commits, as SQLite's own procedure for
// schema changes says (https://sqlite.org/lang_altertable.html §7).
const noForeignKeys = "-- sqlstore: foreign keys off"

// withoutForeignKeys runs fn in a transaction on one connection whose
// foreign keys are off (the pragma cannot change inside a transaction),
// and turns them on again before the connection goes back to the pool.
func (db *DB) withoutForeignKeys(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return err
	}
	defer func() {
		if _, e := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`); e != nil && err == nil {
			err = e
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	broken := rows.Next()
	rows.Close()
	if broken {
		return fmt.Errorf("sqlstore: a migration left rows referencing missing ones")
	}
	return tx.Commit()
}

var errSkip = errors.New("skip")
