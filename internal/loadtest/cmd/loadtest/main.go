// Command loadtest runs the load test (package loadtest): `make loadtest`,
// or
//
//	go run ./internal/loadtest/cmd/loadtest -accounts 1000
//
// It builds crmsync and the IMAP server unless given, and keeps its work
// directory (logs of every process, report.json) when -dir is set.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/crmsync/crmsync/internal/loadtest"
)

func main() {
	var o loadtest.Options
	flag.IntVar(&o.Accounts, "accounts", 10000, "IMAP mailboxes")
	flag.IntVar(&o.Messages, "messages", 10, "messages in each mailbox at start")
	flag.IntVar(&o.Workers, "workers", 2, "crmsync worker processes beside the serve")
	flag.IntVar(&o.NewMail, "new-mail", 100, "mailboxes that get a new message for the latency figure")
	flag.BoolVar(&o.Failover, "failover", true, "kill -9 a worker, then start it again")
	flag.BoolVar(&o.Restart, "pg-restart", true, "restart PostgreSQL")
	flag.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "the longest wait of each step")
	flag.DurationVar(&o.Hold, "hold", 0, "keep everything running this long after the report (to inspect it)")
	flag.StringVar(&o.Crmsync, "crmsync", "", "the crmsync binary (default: built from this checkout)")
	flag.StringVar(&o.Server, "imap-server", "", "the imapload server binary (default: built from this checkout)")
	flag.StringVar(&o.Baseline, "baseline", "", "another crmsync binary (an older build) to run as the last worker, to compare memory in the same run")
	flag.StringVar(&o.Dir, "dir", "", "work directory, kept (default: a temporary one, removed)")
	flag.Parse()
	o.Out = os.Stdout
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "crmsync-loadtest-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		o.Dir = d
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		fail(err)
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		fail(err)
	}
	build := func(path *string, name, pkg string) {
		if *path != "" {
			return
		}
		*path = filepath.Join(o.Dir, name)
		cmd := exec.Command("go", "build", "-o", *path, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fail(fmt.Errorf("building %s: %w", pkg, err))
		}
	}
	build(&o.Crmsync, "crmsync", "./cmd/crmsync")
	build(&o.Server, "imapload", "./internal/testpeer/imapload/server")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := loadtest.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err, "(logs in", o.Dir+")")
		if os.Getenv("LOADTEST_KEEP") == "" {
			os.Exit(1)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadtest:", err)
	os.Exit(1)
}
