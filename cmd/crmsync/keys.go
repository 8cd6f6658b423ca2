package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/keys"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

func keysGenerateCommand() *command {
	return &command{
		name:    "keys generate",
		summary: "print a new secret key line for CRMSYNC_SECRET_KEY",
		help: "Prints a new random secret key as one line \"ID KEY\" on standard output, for CRMSYNC_SECRET_KEY or the " +
			"last line of a key file. It touches no database.",
		run: func(_ context.Context, a *app, _ config.Config) error {
			fmt.Fprintln(a.stdout, secret.NewKeyLine())
			fmt.Fprintf(a.stderr, "add this line last in %s (entries separated by newlines or commas) or in the key file of every crmsync process, keeping the old keys; then run `crmsync keys rotate`\n", secret.EnvKey)
			return nil
		},
	}
}

func keysRotateCommand() *command {
	return &command{
		name:    "keys rotate",
		summary: "re-encrypt stored credentials under a new key, no downtime",
		help: "With a key file, appends a new key to it (running servers pick it up without a restart) and re-encrypts " +
			"every stored credential under it. With keys in CRMSYNC_SECRET_KEY, or with --no-new-key, adds no key and " +
			"re-encrypts under the active (last) key. Each credential is swapped only if unchanged since it was read, so " +
			"it is safe beside running servers and may be run again. Old keys stay: remove one only once `crmsync keys " +
			"usage` shows no credential under it.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			cfg.RegisterSecretKeyFile(fs)
			fs.Bool(&cfg.NoNewKey, config.NoNewKey)
		},
		run: runKeysRotate,
	}
}

func runKeysRotate(ctx context.Context, a *app, cfg config.Config) error {
	db, err := openStore(ctx, cfg.DB, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := store.RequireCurrent(ctx, db); err != nil {
		return err
	}
	kr, source, _, err := loadKeys(a, cfg, db, false)
	if err != nil {
		return err
	}
	file := kr.File()
	switch {
	case file != "" && !cfg.NoNewKey:
		kid, err := secret.AppendNewKey(file)
		if err != nil {
			return err
		}
		if err := kr.Reload(); err != nil {
			return err
		}
		if kr.ActiveKeyID() != kid {
			return fmt.Errorf("key %s was added to %s but is not its active key; check the file", kid, file)
		}
		fmt.Fprintf(a.stderr, "added key %s to %s: it is now the active key (running servers pick it up without a restart)\n", kid, file)
	case file == "":
		fmt.Fprintf(a.stderr, "keys come from %s: no key added; re-encrypting under its last entry, key %s\n", source, kr.ActiveKeyID())
	default:
		fmt.Fprintf(a.stderr, "--no-new-key: re-encrypting under the active key %s of %s\n", kr.ActiveKeyID(), file)
	}

	res, err := keys.Rotate(ctx, db, kr, func(format string, args ...any) {
		fmt.Fprintf(a.stderr, "cannot re-encrypt "+format+"\n", args...)
	})
	fmt.Fprintf(a.stdout, "scanned %d credentials: %d re-encrypted under key %s, %d failed\n",
		res.Scanned, res.Reencrypted, kr.ActiveKeyID(), res.Failed)
	if err != nil {
		return fmt.Errorf("rotation stopped: %w; run `crmsync keys rotate --no-new-key` to finish it", err)
	}
	where := "the key file " + file
	if file == "" {
		where = secret.EnvKey
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d credentials could not be re-encrypted (listed above) and still use their old key: keep every old key in %s", res.Failed, where)
	}
	fmt.Fprintf(a.stderr, "next: `crmsync keys usage` lists the credentials per key; remove an old key from %s only once it shows 0\n", where)
	return nil
}

func keysUsageCommand() *command {
	return &command{
		name:    "keys usage",
		summary: "count stored credentials per secret key",
		help: "Prints, for each secret key id, how many stored credentials are encrypted under it. A configured key " +
			"with 0 credentials can be removed from the configuration; credentials under a key that is not configured " +
			"cannot be read until it is added back.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			cfg.RegisterSecretKeyFile(fs)
		},
		run: runKeysUsage,
	}
}

func runKeysUsage(ctx context.Context, a *app, cfg config.Config) error {
	db, err := openStore(ctx, cfg.DB, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := store.RequireCurrent(ctx, db); err != nil {
		return err
	}
	kr, _, _, err := loadKeys(a, cfg, db, false)
	if err != nil {
		return err
	}
	counts, err := keys.Usage(ctx, db, kr)
	if err != nil {
		return err
	}
	// Configured keys first, in their order (the active one last), then
	// the ids of credentials that no configured key opens.
	ids := kr.KeyIDs()
	var unknown []string
	for kid := range counts {
		if !slices.Contains(ids, kid) {
			unknown = append(unknown, kid)
		}
	}
	slices.Sort(unknown)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tCREDENTIALS\tNOTE")
	for _, kid := range ids {
		note := ""
		switch {
		case kid == kr.ActiveKeyID():
			note = "active"
		case counts[kid] == 0:
			note = "unused: may be removed"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", kid, counts[kid], note)
	}
	for _, kid := range unknown {
		name, note := kid, "not configured: these credentials cannot be read"
		if kid == "" {
			name, note = "-", "no key id: damaged or not written by crmsync"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", name, counts[kid], note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%d credentials use keys that are not configured (%s)", sumOf(counts, unknown), strings.Join(unknown, ", "))
	}
	return nil
}

func sumOf(counts map[string]int, ids []string) int {
	n := 0
	for _, id := range ids {
		n += counts[id]
	}
	return n
}
