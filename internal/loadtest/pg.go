package loadtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// pgCluster is a PostgreSQL cluster of the test's own, in its directory, so
// that restarting it (the reconnect scenario) disturbs nobody else on the
// machine and its settings are the test's.
type pgCluster struct {
	bin, data, sock string
	port            int
	runAs           string // run the server as this user (initdb refuses root)
}

// startPostgres makes and starts a cluster under dir.
func startPostgres(ctx context.Context, dir string) (*pgCluster, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		p, err := exec.LookPath("pg_ctl")
		if err != nil {
			return nil, fmt.Errorf("no PostgreSQL server found (Debian: apt-get install postgresql): %w", err)
		}
		bins = []string{p}
	}
	slices.Sort(bins)
	pg := &pgCluster{bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "pgdata"), sock: dir}
	if os.Geteuid() == 0 {
		pg.runAs = "postgres"
		u, err := user.Lookup(pg.runAs)
		if err != nil {
			return nil, fmt.Errorf("running as root, the cluster needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	pg.port = port
	if err := pg.run(ctx, "initdb", "-D", pg.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB", port, pg.sock)
	if err := pg.run(ctx, "pg_ctl", "-D", pg.data, "-l", filepath.Join(dir, "postgres.log"), "-o", opts, "-w", "start"); err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", pg.dsn("postgres"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE crmsync"); err != nil {
		return nil, err
	}
	return pg, nil
}

func (pg *pgCluster) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

// restart is what `pg_ctlcluster 15 main restart` does to a Debian
// cluster: a fast shutdown (every connection cut) and a start.
func (pg *pgCluster) restart(ctx context.Context) error {
	// -l: without a log file the new server would write to our pipe and
	// keep it open.
	return pg.run(ctx, "pg_ctl", "-D", pg.data, "-l", filepath.Join(pg.sock, "postgres.log"), "-m", "fast", "-w", "restart")
}

func (pg *pgCluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pg.run(ctx, "pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop")
}

func (pg *pgCluster) run(ctx context.Context, name string, args ...string) error {
	path := filepath.Join(pg.bin, name)
	var cmd *exec.Cmd
	if pg.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pg.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, out)
	}
	return nil
}
