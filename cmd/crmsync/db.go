package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/postgres"
	"github.com/crmsync/crmsync/internal/store/sqlite"
)

// database is an open store and what --db said about it.
type database struct {
	store.Store
	kind    string // config.SQLite or config.Postgres
	path    string // the SQLite file; "" for PostgreSQL
	display string // the DSN without its password, for messages
}

// openStore opens the database dsn names: PostgreSQL for a postgres:// or
// postgresql:// URL, else a SQLite file. Unless create is set, a SQLite file
// that does not exist is an error telling to run init, rather than a new
// empty database left behind by a mistyped path.
func openStore(ctx context.Context, dsn string, create bool) (*database, error) {
	kind, target, err := config.ParseDB(dsn)
	if err != nil {
		return nil, usageErrorf("--db: %v", err)
	}
	db := &database{kind: kind, display: config.RedactDB(dsn)}
	switch kind {
	case config.Postgres:
		db.Store, err = postgres.Open(ctx, target)
	default:
		db.path = target
		if !create {
			if _, err := os.Stat(target); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no database at %s: run `crmsync init` to create one, or point --db (or CRMSYNC_DB) at yours", target)
			}
		}
		db.Store, err = sqlite.Open(ctx, target)
	}
	if err != nil {
		return nil, err
	}
	return db, nil
}

// loadKeys returns the secret keys: from CRMSYNC_SECRET_KEY, or the key
// file named by --secret-key-file (CRMSYNC_SECRET_KEY_FILE), or, with SQLite,
// the key file beside the database. With create (init), a missing key file
// is made: the one named, or the one beside a SQLite database. created
// reports that it was: the caller must say so.
func loadKeys(a *app, cfg config.Config, db *database, create bool) (kr *secret.Keyring, source string, created bool, err error) {
	env := func(key string) string {
		if key == secret.EnvKeyFile {
			return cfg.SecretKeyFile // the flag, or the variable behind it
		}
		return a.getenv(key)
	}
	// A key file named but missing is made by init, wherever it is to be.
	if create && cfg.SecretKeyFile != "" && strings.TrimSpace(a.getenv(secret.EnvKey)) == "" {
		if _, err := os.Stat(cfg.SecretKeyFile); errors.Is(err, fs.ErrNotExist) {
			kr, err := secret.GenerateKeyFile(cfg.SecretKeyFile)
			if err != nil {
				return nil, "", false, err
			}
			return kr, "key file " + cfg.SecretKeyFile, true, nil
		}
	}
	kr, source, created, err = secret.LoadOrCreate(env, db.path, create)
	if errors.Is(err, secret.ErrNoKey) && db.kind == config.Postgres {
		return nil, "", false, fmt.Errorf("no secret key configured: with PostgreSQL every crmsync process needs the same keys, in %s or in the file named by %s (--secret-key-file); `crmsync keys generate` prints a new key",
			secret.EnvKey, secret.EnvKeyFile)
	}
	return kr, source, created, err
}
