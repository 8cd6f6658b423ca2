package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/config"
)

// inProcess runs crmsync with args in this process, with only the
// environment variables in env.
func inProcess(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, env: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
	code = run(context.Background(), a, args)
	return out.String(), errOut.String(), code
}

// parse parses args for the command named name, with env, and returns the
// resulting configuration.
func parse(t *testing.T, name string, env map[string]string, args ...string) (config.Config, error) {
	t.Helper()
	c, rest, err := find(commands(), append(strings.Fields(name), args...))
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Config
	a := &app{env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	err = newFlagSet(a, c, &cfg).Parse(rest)
	return cfg, err
}

func TestFlagEnvPrecedence(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env      map[string]string
		args     []string
		wantDB   string
		wantHTTP string
		wantLog  string
		wantErr  string
	}{
		"defaults":                {wantDB: "crmsync.db", wantHTTP: "127.0.0.1:8080", wantLog: "info"},
		"environment":             {env: map[string]string{"CRMSYNC_DB": "/var/lib/crmsync/x.db", "CRMSYNC_HTTP": ":9000", "CRMSYNC_LOG_LEVEL": "debug"}, wantDB: "/var/lib/crmsync/x.db", wantHTTP: ":9000", wantLog: "debug"},
		"flag beats environment":  {env: map[string]string{"CRMSYNC_DB": "env.db", "CRMSYNC_HTTP": ":9000"}, args: []string{"--db", "flag.db"}, wantDB: "flag.db", wantHTTP: ":9000", wantLog: "info"},
		"single dash flag":        {args: []string{"-http=:7000"}, wantDB: "crmsync.db", wantHTTP: ":7000", wantLog: "info"},
		"empty variable is unset": {env: map[string]string{"CRMSYNC_DB": ""}, wantDB: "crmsync.db", wantHTTP: "127.0.0.1:8080", wantLog: "info"},
		"bad variable names it":   {env: map[string]string{"CRMSYNC_LOG_LEVEL": "loud"}, wantErr: "CRMSYNC_LOG_LEVEL"},
		"bad flag names it":       {args: []string{"--log-format", "xml"}, wantErr: "log-format"},
		"flag overrides a bad variable": {env: map[string]string{"CRMSYNC_LOG_LEVEL": "loud"}, args: []string{"--log-level", "warn"},
			wantDB: "crmsync.db", wantHTTP: "127.0.0.1:8080", wantLog: "warn"},
		"unknown flag":        {args: []string{"--port", "1"}, wantErr: "port"},
		"positional argument": {args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := parse(t, "serve", tt.env, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DB != tt.wantDB || cfg.HTTPAddr != tt.wantHTTP || cfg.LogLevel != tt.wantLog {
				t.Errorf("db %q http %q log-level %q; want %q %q %q", cfg.DB, cfg.HTTPAddr, cfg.LogLevel, tt.wantDB, tt.wantHTTP, tt.wantLog)
			}
		})
	}
}

func TestBoolFromEnvironment(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want bool
	}{
		{want: false},
		{env: map[string]string{"CRMSYNC_NO_NEW_KEY": "true"}, want: true},
		{env: map[string]string{"CRMSYNC_NO_NEW_KEY": "1"}, want: true},
		{env: map[string]string{"CRMSYNC_NO_NEW_KEY": "true"}, args: []string{"--no-new-key=false"}, want: false},
	} {
		cfg, err := parse(t, "keys rotate", tt.env, tt.args...)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NoNewKey != tt.want {
			t.Errorf("env %v args %v: NoNewKey %v, want %v", tt.env, tt.args, cfg.NoNewKey, tt.want)
		}
	}
}

// TestOpenStoreSelectsDriver checks which driver each --db form reaches.
func TestOpenStoreSelectsDriver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, dsn := range []string{filepath.Join(dir, "a.db"), "sqlite:" + filepath.Join(dir, "b.db"), "file:" + filepath.Join(dir, "c.db")} {
		db, err := openStore(ctx, dsn, true)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if db.Dialect() != "sqlite" || db.kind != config.SQLite {
			t.Errorf("%s: dialect %s, want sqlite", dsn, db.Dialect())
		}
		if _, err := os.Stat(db.path); err != nil {
			t.Errorf("%s: no file at %s: %v", dsn, db.path, err)
		}
		db.Close()
	}
	// Nothing listens on port 1: reaching the PostgreSQL driver is enough.
	for _, dsn := range []string{"postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", "POSTGRESQL://u@127.0.0.1:1/db?connect_timeout=2"} {
		_, err := openStore(ctx, dsn, false)
		if err == nil || !strings.Contains(err.Error(), "postgres:") {
			t.Errorf("%s: error %v, want one from the PostgreSQL driver", dsn, err)
		}
	}
	// Without create, a missing SQLite file is an error telling to run init,
	// and is not created.
	missing := filepath.Join(dir, "missing.db")
	if _, err := openStore(ctx, missing, false); err == nil || !strings.Contains(err.Error(), "crmsync init") {
		t.Errorf("missing file: error %v, want one telling to run crmsync init", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("opening a missing database created it")
	}
}

func TestSubcommandDispatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{args: nil, code: 2, wantStderr: "no subcommand given"},
		{args: []string{"bogus"}, code: 2, wantStderr: `unknown subcommand "bogus"`},
		{args: []string{"keys"}, code: 2, wantStderr: "`crmsync keys` needs a subcommand"},
		{args: []string{"keys", "burn"}, code: 2, wantStderr: "unknown subcommand `crmsync keys burn`"},
		{args: []string{"org"}, code: 2, wantStderr: "needs a subcommand"},
		{args: []string{"help"}, code: 0, wantStdout: "keys rotate"},
		{args: []string{"--help"}, code: 0, wantStdout: "org create"},
		{args: []string{"help", "keys", "rotate"}, code: 0, wantStdout: "--no-new-key"},
		{args: []string{"serve", "--help"}, code: 0, wantStdout: "(env CRMSYNC_HTTP, default 127.0.0.1:8080)"},
		{args: []string{"org", "create", "-h"}, code: 0, wantStdout: "--name NAME"},
		{args: []string{"serve", "--bogus"}, code: 2, wantStderr: "flag provided but not defined"},
		{args: []string{"version"}, code: 0, wantStdout: "crmsync "},
		{args: []string{"--version"}, code: 0, wantStdout: "crmsync "},
		{args: []string{"keys", "generate"}, code: 0, wantStdout: " "},
	}
	for _, tt := range tests {
		stdout, stderr, code := inProcess(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
			t.Errorf("crmsync %s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				strings.Join(tt.args, " "), code, stdout, stderr, tt.code, tt.wantStdout, tt.wantStderr)
		}
		for _, line := range strings.Split(stdout+stderr, "\n") {
			if strings.Contains(stdout+stderr, "Usage:") && len([]rune(line)) > 80 { // help and overviews fit a terminal
				t.Errorf("crmsync %s: line longer than 80 columns: %q", strings.Join(tt.args, " "), line)
			}
		}
		if tt.code == 2 && tt.wantStderr != "" && strings.Contains(tt.wantStderr, "subcommand") && !strings.Contains(stderr, "keys usage") {
			t.Errorf("crmsync %s: the usage error does not list the subcommands:\n%s", strings.Join(tt.args, " "), stderr)
		}
	}
}

// TestHelpDocumentsEveryFlag checks that each subcommand's --help shows
// every flag it takes with its environment variable, and that the option
// table in package config names exactly the subcommands that take each
// option.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	t.Parallel()
	takenBy := map[string][]string{} // env var -> commands
	for _, c := range commands() {
		fs := newFlagSet(&app{env: func(string) (string, bool) { return "", false }}, c, new(config.Config))
		var help bytes.Buffer
		fs.Usage(&help)
		for _, o := range fs.Options() {
			takenBy[o.Flag+" "+o.Env] = append(takenBy[o.Flag+" "+o.Env], c.name)
			documented := strings.Contains(help.String(), "\n  --"+o.Flag) && strings.Contains(help.String(), "(env "+o.Env)
			if o.Flag == "" {
				documented = strings.Contains(help.String(), "\n  "+o.Env+"\n")
			}
			if !documented {
				t.Errorf("crmsync %s --help does not document --%s / %s:\n%s", c.name, o.Flag, o.Env, help.String())
			}
		}
		for _, line := range strings.Split(help.String(), "\n") {
			if len([]rune(line)) > 80 {
				t.Errorf("crmsync %s --help: line longer than 80 columns: %q", c.name, line)
			}
		}
	}
	for _, o := range config.Options {
		got := takenBy[o.Flag+" "+o.Env]
		if !slices.Equal(got, o.Commands) {
			t.Errorf("--%s (%s) is taken by %v, but the option table says %v", o.Flag, o.Env, got, o.Commands)
		}
		delete(takenBy, o.Flag+" "+o.Env)
	}
	for k := range takenBy {
		t.Errorf("option %s is registered but not in config.Options", k)
	}
}

// TestInitValidatesFlagsFirst checks that init refuses bad flags with a
// usage error naming the flag, before it creates anything.
func TestInitValidatesFlagsFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "crmsync.db")
	weak := filepath.Join(dir, "weak")
	os.WriteFile(weak, []byte("short\n"), 0o600)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"init", "--admin-email", "a@example.com"}, 2, "--org is required"},
		{[]string{"init", "--org", "  ", "--admin-email", "a@example.com"}, 2, "--org is required"},
		{[]string{"init", "--org", "Acme"}, 2, "--admin-email is required"},
		{[]string{"init", "--org", "Acme", "--admin-email", "Ann <a@example.com>"}, 2, "--admin-email"},
		{[]string{"init", "--org", "Acme", "--admin-email", "a@example.com", "--admin-password-file", weak}, 2, "--admin-password-file: the password in " + weak + " must be at least"},
		{[]string{"init", "--org", "Acme", "--admin-email", "a@example.com", "--admin-password-file", filepath.Join(dir, "none")}, 1, "--admin-password-file"},
		{[]string{"org", "create", "--admin-email", "a@example.com"}, 2, "--name is required"},
		{[]string{"init", "--org", "Acme", "--admin-email", "a@example.com", "--db", "sqlite:"}, 2, "--db: empty database"},
		// Fails after the database file was made: it is removed again.
		{[]string{"init", "--org", "Acme", "--admin-email", "a@example.com", "--secret-key-file", filepath.Join(dir, "no", "key")}, 1, "creating key file"},
	}
	for _, tt := range tests {
		stdout, stderr, code := inProcess(t, map[string]string{"CRMSYNC_DB": db}, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("crmsync %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, stdout, stderr, tt.code, tt.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "weak" {
			t.Errorf("a refused init left %s behind", e.Name())
		}
	}
}

// TestCommandsNeedingADatabaseRefuseAMissingFile: a mistyped SQLite path
// gets an error telling to run init, not a new empty database.
func TestCommandsNeedingADatabaseRefuseAMissingFile(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "nothing.db")
	for _, args := range [][]string{{"serve"}, {"worker"}, {"keys", "usage"}, {"keys", "rotate"}, {"users", "token", "--email", "a@acme.example"}, {"users", "password", "--email", "a@acme.example"}} {
		_, stderr, code := inProcess(t, map[string]string{"CRMSYNC_DB": db}, args...)
		if code != 1 || !strings.Contains(stderr, "crmsync: no database at "+db) || !strings.Contains(stderr, "crmsync init") {
			t.Errorf("crmsync %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a command created the database")
	}
}

// TestKeyFiles: init makes the key file it is told to, or the one beside a
// SQLite database; org create never makes one.
func TestKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "crm.db")
	named := filepath.Join(dir, "keys", "crmsync.key")
	os.Mkdir(filepath.Dir(named), 0o700)

	stdout, stderr, code := inProcess(t, nil, "init", "--db", db, "--org", "Acme", "--admin-email", "a@acme.example", "--secret-key-file", named)
	if code != 0 || !tokenLineRe.MatchString(stdout) {
		t.Fatalf("init: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(named); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("named key file: %v", err)
	}
	if !strings.Contains(stderr, "key file generated at "+named) {
		t.Errorf("init does not name the key file it made: %q", stderr)
	}
	if _, err := os.Stat(db + ".key"); err == nil {
		t.Error("init made a key file beside the database although one was named")
	}

	// A second init without the key makes a key file beside the database,
	// finds the database initialised, and removes the key file again.
	stdout, stderr, code = inProcess(t, nil, "init", "--db", db, "--org", "Again", "--admin-email", "c@again.example")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "already initialised") {
		t.Errorf("second init: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(db + ".key"); err == nil {
		t.Error("a failed init left a key file behind")
	}

	// Without the key, org create fails and makes no key file.
	stdout, stderr, code = inProcess(t, nil, "org", "create", "--db", db, "--name", "Two", "--admin-email", "b@two.example")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "no key configured") {
		t.Errorf("org create without the key: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(db + ".key"); err == nil {
		t.Error("org create made a key file")
	}
	// With it (from the environment), it works.
	stdout, stderr, code = inProcess(t, map[string]string{"CRMSYNC_SECRET_KEY_FILE": named}, "org", "create", "--db", db, "--name", "Two", "--admin-email", "b@two.example")
	if code != 0 || !tokenLineRe.MatchString(stdout) || !strings.Contains(stderr, "secret keys: key file "+named) {
		t.Errorf("org create with the key: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// Both a key and a key file: refused.
	_, stderr, code = inProcess(t, map[string]string{"CRMSYNC_SECRET_KEY": "k1 " + strings.Repeat("A", 43) + "=", "CRMSYNC_SECRET_KEY_FILE": named},
		"keys", "usage", "--db", db)
	if code != 1 || !strings.Contains(stderr, "keep only one") {
		t.Errorf("keys usage with both: exit %d, %q", code, stderr)
	}
}
