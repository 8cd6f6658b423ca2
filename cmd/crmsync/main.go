// Command crmsync is the crmsync server and its administration commands:
// one binary that sets up a database, serves the REST API, runs the
// background loops and manages the secret keys.
//
//	crmsync init --org NAME --admin-email EMAIL   set up a database, print the admin's API token
//	crmsync serve                                 serve the API on 127.0.0.1:8080
//	crmsync status                                print accounts, sync lag, outbox and leases
//
// Run `crmsync help` for every subcommand, and `crmsync SUBCOMMAND --help`
// for its flags and their environment variables (package config lists them
// all). This is the only package that picks the concrete store drivers.
//
// Exit status: 0 on success, 1 when the command failed (the reason is on
// standard error, prefixed "crmsync: "), 2 for a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/crmsync/crmsync/internal/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information, or is "dev".
var version = ""

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// app is what a command may use of the outside world, so that tests can run
// commands in-process.
type app struct {
	stdin          io.Reader // nil reads as empty
	stdout, stderr io.Writer
	env            config.LookupEnv
}

// getenv is a.env as the func(string) string that package secret wants.
func (a *app) getenv(key string) string {
	v, _ := a.env(key)
	return v
}

// command is one subcommand.
type command struct {
	name    string // "serve", "keys rotate"
	summary string // one line, for `crmsync help`
	help    string // a paragraph, for `crmsync NAME --help`
	// flags registers the options the command reads into cfg.
	flags func(fs *config.FlagSet, cfg *config.Config)
	run   func(ctx context.Context, a *app, cfg config.Config) error
}

// commands lists every subcommand in the order `crmsync help` shows them.
func commands() []*command {
	return []*command{
		initCommand(),
		orgCreateCommand(),
		usersTokenCommand(),
		usersPasswordCommand(),
		serveCommand(),
		workerCommand(),
		migrateCommand(),
		statusCommand(),
		keysGenerateCommand(),
		keysRotateCommand(),
		keysUsageCommand(),
		autoconfigCommand(),
		versionCommand(),
	}
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, env: os.LookupEnv}
	os.Exit(run(ctx, a, os.Args[1:]))
}

// run runs the subcommand named in args and returns the exit status.
func run(ctx context.Context, a *app, args []string) int {
	cmds := commands()
	if len(args) == 0 {
		fmt.Fprint(a.stderr, "crmsync: no subcommand given\n\n")
		writeOverview(a.stderr, cmds)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) == 1 {
			writeOverview(a.stdout, cmds)
			return exitOK
		}
		// crmsync help serve, crmsync help keys rotate
		c, _, err := find(cmds, args[1:])
		if err != nil {
			fmt.Fprintf(a.stderr, "crmsync: %v\n\n", err)
			writeOverview(a.stderr, cmds)
			return exitUsage
		}
		newFlagSet(a, c, new(config.Config)).Usage(a.stdout)
		return exitOK
	case "-version", "--version":
		args = []string{"version"}
	}
	c, rest, err := find(cmds, args)
	if err != nil {
		fmt.Fprintf(a.stderr, "crmsync: %v\n\n", err)
		writeOverview(a.stderr, cmds)
		return exitUsage
	}
	var cfg config.Config
	fs := newFlagSet(a, c, &cfg)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, config.ErrHelp) {
			fs.Usage(a.stdout)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "crmsync %s: %v\nRun `crmsync %s --help` for its flags.\n", c.name, err, c.name)
		return exitUsage
	}
	cfg.Arg = fs.Arg()
	if err := c.run(ctx, a, cfg); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(a.stderr, "crmsync %s: %v\nRun `crmsync %s --help` for its flags.\n", c.name, err, c.name)
			return exitUsage
		}
		fmt.Fprintf(a.stderr, "crmsync: %v\n", err)
		return exitError
	}
	return exitOK
}

func newFlagSet(a *app, c *command, cfg *config.Config) *config.FlagSet {
	fs := config.NewFlagSet(c.name, c.help, a.env)
	if c.flags != nil {
		c.flags(fs, cfg)
	}
	return fs
}

// find returns the command named by the first one or two words of args, and
// the arguments after its name.
func find(cmds []*command, args []string) (*command, []string, error) {
	if len(args) == 0 {
		return nil, nil, errors.New("no subcommand given")
	}
	group := false
	for _, c := range cmds {
		word, sub, two := strings.Cut(c.name, " ")
		switch {
		case !two && c.name == args[0]:
			return c, args[1:], nil
		case two && word == args[0]:
			group = true
			if len(args) > 1 && sub == args[1] {
				return c, args[2:], nil
			}
		}
	}
	if group {
		if len(args) == 1 || strings.HasPrefix(args[1], "-") {
			return nil, nil, fmt.Errorf("`crmsync %s` needs a subcommand", args[0])
		}
		return nil, nil, fmt.Errorf("unknown subcommand `crmsync %s %s`", args[0], args[1])
	}
	return nil, nil, fmt.Errorf("unknown subcommand %q", args[0])
}

// writeOverview lists the subcommands, one line each.
func writeOverview(w io.Writer, cmds []*command) {
	fmt.Fprint(w, `crmsync is a self-hosted CRM server that syncs mail, contacts and calendars.

Usage: crmsync SUBCOMMAND [flags]

Subcommands:
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "crmsync SUBCOMMAND --help" for its flags; every flag can also be set
through the environment variable it names.
`)
}
