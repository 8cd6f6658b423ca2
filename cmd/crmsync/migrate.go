package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/store"
)

func migrateCommand() *command {
	return &command{
		name:    "migrate",
		summary: "bring the database schema up to this binary's version",
		help: "Applies the pending schema migrations, each in its own transaction, and reports the version reached. " +
			"Run it after installing a new crmsync and before starting it; it is safe to run again, and several at once.",
		flags: func(fs *config.FlagSet, cfg *config.Config) { cfg.RegisterDB(fs) },
		run:   runMigrate,
	}
}

func runMigrate(ctx context.Context, a *app, cfg config.Config) error {
	db, err := openStore(ctx, cfg.DB, true)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrating %s: %w (applied %d before that)", db.display, err, applied)
	}
	cur, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "schema at version %d (applied %d)\n", cur, applied)
	if cur > 0 {
		// River's job tables (webhook deliveries) come after the store's.
		n, err := migrateQueue(ctx, db)
		if err != nil {
			return fmt.Errorf("migrating %s: %w", db.display, err)
		}
		if n > 0 {
			fmt.Fprintf(a.stderr, "job queue tables brought up to date (applied %d)\n", n)
		}
	}
	// A database newer than this binary is not an error to migrate, but is
	// one to run on: say so now.
	return store.RequireCurrent(ctx, db)
}

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the version of this binary",
		help:    "Prints crmsync's version and the Go version it was built with.",
		run: func(_ context.Context, a *app, _ config.Config) error {
			fmt.Fprintf(a.stdout, "crmsync %s (%s)\n", buildVersion(), runtime.Version())
			return nil
		},
	}
}

// buildVersion is the version set with -ldflags -X main.version=…, else the
// module version recorded by `go install module@version`, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
