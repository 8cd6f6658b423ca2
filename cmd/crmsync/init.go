package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

func initCommand() *command {
	return &command{
		name:    "init",
		summary: "create the schema, first organisation and admin; print a token",
		help: "Creates the database schema if needed, the first organisation and its admin user, and prints a new API token " +
			"for that admin on standard output, alone on one line, so that scripts can capture it (or, with --token-out " +
			"FILE, into a new file of mode 0600); everything else goes to standard error. It refuses a database that already holds an organisation (use `crmsync org create`). " +
			"With SQLite and no secret key configured, it creates the key file beside the database (mode 0600): back it " +
			"up apart from the database.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			fs.String(&cfg.OrgName, config.Org)
			fs.String(&cfg.AdminEmail, config.AdminEmail)
			fs.String(&cfg.AdminName, config.AdminName)
			fs.String(&cfg.AdminPasswordFile, config.AdminPasswordFile)
			fs.String(&cfg.TokenOut, config.TokenOut)
			cfg.RegisterSecretKeyFile(fs)
		},
		run: func(ctx context.Context, a *app, cfg config.Config) error {
			return createOrg(ctx, a, cfg, true)
		},
	}
}

func orgCreateCommand() *command {
	return &command{
		name:    "org create",
		summary: "add another organisation and admin; print the admin's token",
		help: "Adds an organisation and its admin user to a database (one server may host several organisations, " +
			"which see nothing of each other) and prints a new API token for that admin on standard output, alone on " +
			"one line (or, with --token-out FILE, writes it into a new file of mode 0600).",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			fs.String(&cfg.OrgName, config.OrgName)
			fs.String(&cfg.AdminEmail, config.AdminEmail)
			fs.String(&cfg.AdminName, config.AdminName)
			fs.String(&cfg.AdminPasswordFile, config.AdminPasswordFile)
			fs.String(&cfg.TokenOut, config.TokenOut)
			cfg.RegisterSecretKeyFile(fs)
		},
		run: func(ctx context.Context, a *app, cfg config.Config) error {
			return createOrg(ctx, a, cfg, false)
		},
	}
}

// maxPasswordFile bounds what is read from --admin-password-file.
const maxPasswordFile = 4096

// createOrg is init (first, the database must hold no organisation) and org
// create. It checks every flag before it touches the database, and on any
// failure leaves the database and the key file as they were.
func createOrg(ctx context.Context, a *app, cfg config.Config, first bool) (err error) {
	nameFlag, tokenName := "--name", "crmsync org create"
	if first {
		nameFlag, tokenName = "--org", "crmsync init"
	}
	name := strings.TrimSpace(cfg.OrgName)
	if name == "" {
		return usageErrorf("%s is required: the name of the organisation", nameFlag)
	}
	if cfg.AdminEmail == "" {
		return usageErrorf("--admin-email is required: the address the organisation's admin signs in with")
	}
	email, err := crm.NormalizeEmail(cfg.AdminEmail)
	if err != nil {
		return usageErrorf("--admin-email %q %v", cfg.AdminEmail, err)
	}
	adminName := strings.TrimSpace(cfg.AdminName)
	if adminName == "" {
		adminName, _, _ = strings.Cut(email, "@")
	}
	var passwordHash string
	if cfg.AdminPasswordFile != "" {
		password, err := readPasswordFile("--admin-password-file", cfg.AdminPasswordFile)
		if err != nil {
			return err
		}
		passwordHash, err = auth.HashPassword(password)
		if errors.Is(err, auth.ErrWeakPassword) {
			return usageErrorf("--admin-password-file: the password in %s %v", cfg.AdminPasswordFile, err)
		}
		if err != nil {
			return err
		}
	}

	// The token's file is made first, so that an existing one is refused
	// before anything else happens, and removed again if the command fails.
	out, err := openSecretOut(a, cfg.TokenOut, "--token-out")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.discard()
		}
	}()

	// A SQLite file this command creates is made readable by its owner
	// only (it holds password hashes and sealed credentials; SQLite gives
	// its -wal and -shm files the same mode), and is removed again if the
	// command fails.
	fresh := false
	if kind, path, err := config.ParseDB(cfg.DB); err == nil && kind == config.SQLite {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			f.Close()
			fresh = true
		case !errors.Is(err, fs.ErrExist):
			return fmt.Errorf("creating the database: %w", err)
		}
	}
	db, err := openStore(ctx, cfg.DB, true)
	if err != nil {
		if fresh {
			_, path, _ := config.ParseDB(cfg.DB)
			os.Remove(path)
		}
		return err
	}
	defer func() {
		db.Close()
		if err != nil && fresh {
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				os.Remove(db.path + suffix)
			}
		}
	}()

	// The key comes before any write, so that a database is never set up
	// without one. Only init makes a key file (org create must find the
	// one init made, not start another); a key file made here is removed
	// again if the command fails: it has sealed nothing yet.
	kr, source, created, err := loadKeys(a, cfg, db, first)
	if err != nil {
		return err
	}
	if created {
		defer func() {
			if err != nil {
				os.Remove(kr.File())
			}
		}()
	}

	// An empty database gets its schema. A database already set up must be
	// current: migrating one that older servers may be running on is for
	// `crmsync migrate`, deliberately.
	cur, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	migrated := 0
	if cur == 0 {
		if migrated, err = db.Migrate(ctx); err != nil {
			return err
		}
	} else if err := store.RequireCurrent(ctx, db); err != nil {
		return err
	}
	// River's job tables (webhook deliveries); nothing to do when current.
	if _, err := migrateQueue(ctx, db); err != nil {
		return err
	}

	token, prefix, hash := auth.NewToken()
	org, admin, _, err := db.CreateOrg(ctx, store.CreateOrgParams{
		Name:              name,
		AdminEmail:        email,
		AdminName:         adminName,
		AdminPasswordHash: passwordHash,
		TokenName:         tokenName,
		TokenHash:         hash,
		TokenPrefix:       prefix,
		RequireEmpty:      first,
	})
	var fe *store.FieldError
	switch {
	case errors.Is(err, store.ErrAlreadyInitialized):
		return fmt.Errorf("this database is already initialised (organisation(s) exist): run `crmsync serve --db %s` to use it; "+
			"`crmsync users token --email EMAIL` makes a new API token for a user who lost theirs, `crmsync org create` adds another organisation", db.display)
	case errors.As(err, &fe) && fe.Field == "email":
		return usageErrorf("--admin-email %s: %s (emails are unique across all organisations of a server)", email, fe.Message)
	case err != nil:
		return err
	}

	// The token alone on standard output (or in its file); the story on
	// standard error.
	if err := out.write(token); err != nil {
		return fmt.Errorf("%w; the organisation was created: make the admin a new token with `crmsync users token --email %s`", err, admin.Email)
	}
	if migrated > 0 {
		fmt.Fprintf(a.stderr, "created the database schema in %s (version %d)\n", db.display, latest)
	}
	fmt.Fprintf(a.stderr, "created organisation %q (id %d) with admin %s (user id %d); their API token is %s\n",
		org.Name, org.ID, admin.Email, admin.ID, out.where())
	if passwordHash != "" {
		fmt.Fprintf(a.stderr, "%s can also sign in with the password from %s\n", admin.Email, cfg.AdminPasswordFile)
	}
	writeKeyNote(a.stderr, source, kr.File(), created)
	if created && db.kind == config.Postgres {
		fmt.Fprintln(a.stderr, "every crmsync process using this database needs the same key file: copy it to each machine, mode 0600")
	}
	if first {
		fmt.Fprintf(a.stderr, "next: crmsync serve --db %s\n", db.display)
	}
	return nil
}

// writeKeyNote tells where the secret keys come from, loudly for a key file
// just made.
func writeKeyNote(w io.Writer, source, file string, created bool) {
	if !created {
		fmt.Fprintf(w, "secret keys: %s\n", source)
		return
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	fmt.Fprintf(w, "key file generated at %s, mode 0600; keep it safe and back it up apart from the database — without it stored credentials cannot be read\n", file)
}

// readPasswordFile returns the password in path (the value of flag), less
// one trailing newline.
func readPasswordFile(flag, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	if len(b) > maxPasswordFile {
		return "", usageErrorf("%s: %s is longer than %d bytes; it should hold the password alone", flag, path, maxPasswordFile)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}
