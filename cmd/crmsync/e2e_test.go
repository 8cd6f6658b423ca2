package main

// End-to-end tests: the real binary, built once, run as an operator would
// on both databases.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/store/storetest"
)

const testVersion = "v0.0.0-e2etest"

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary builds crmsync once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "crmsync-e2e-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "crmsync")
		gobin, err := exec.LookPath("go")
		if err != nil {
			build.err = err
			return
		}
		out, err := exec.Command(gobin, "build", "-ldflags", "-X main.version="+testVersion, "-o", build.bin, ".").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// e2e runs the binary against one database.
type e2e struct {
	t   *testing.T
	bin string
	db  string   // --db
	env []string // environment on top of the test's own, less its CRMSYNC_ variables
}

func newE2E(t *testing.T, db string, env ...string) *e2e {
	return &e2e{t: t, bin: binary(t), db: db, env: env}
}

func (e *e2e) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRMSYNC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CRMSYNC_DB="+e.db)
	// The test servers (Dovecot, Radicale, fakes) are on loopback, which
	// the network guard refuses unless the operator allows it.
	cmd.Env = append(cmd.Env, "CRMSYNC_PRIVATE_HOSTS=127.0.0.0/8")
	cmd.Env = append(cmd.Env, e.env...)
	cmd.Dir = e.t.TempDir()
	return cmd
}

// run runs a command to its end.
func (e *e2e) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		e.t.Fatalf("crmsync %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// mustRun runs a command that must succeed.
func (e *e2e) mustRun(args ...string) (stdout, stderr string) {
	e.t.Helper()
	stdout, stderr, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("crmsync %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout, stderr
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// process is a long-running crmsync (serve, worker).
type process struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	addr   string // serve's address
}

var listeningRe = regexp.MustCompile(`listening on http://([0-9.:]+)`)

// start starts a long-running command and waits until its standard error
// has a line matching ready.
func (e *e2e) start(ready *regexp.Regexp, args ...string) *process {
	e.t.Helper()
	p := &process{t: e.t, name: strings.Join(args, " "), stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = e.command(context.Background(), args...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.stderr.Write([]byte(sc.Text() + "\n"))
			select {
			case lines <- sc.Text():
			default:
			}
		}
		io.Copy(p.stderr, pipe)
		p.cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-lines:
			if m := ready.FindStringSubmatch(line); m != nil {
				if len(m) > 1 {
					p.addr = m[1]
				}
				return p
			}
		case <-p.done:
			e.t.Fatalf("crmsync %s exited (%v) before it was ready:\n%s", p.name, p.cmd.ProcessState, p.stderr.String())
		case <-timeout:
			e.t.Fatalf("crmsync %s not ready after 30 s:\n%s", p.name, p.stderr.String())
		}
	}
}

// serve starts `crmsync serve` on a free port and waits for /healthz.
func (e *e2e) serve() *process {
	e.t.Helper()
	p := e.start(listeningRe, "serve", "--http", "127.0.0.1:0")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("/healthz never answered 200 (last error %v):\n%s", err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and checks for a clean exit.
func (p *process) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatalf("crmsync %s still running 20 s after SIGTERM:\n%s", p.name, p.stderr.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("crmsync %s exited with %d after SIGTERM:\n%s", p.name, code, p.stderr.String())
	}
}

// call makes an API request and decodes the JSON answer.
func (p *process) call(method, path, token string, body any) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+p.addr+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			p.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// mustCall makes a request that must answer want.
func (p *process) mustCall(want int, method, path, token string, body any) map[string]any {
	p.t.Helper()
	code, out := p.call(method, path, token, body)
	if code != want {
		p.t.Fatalf("%s %s: %d %v, want %d", method, path, code, out, want)
	}
	return out
}

var tokenLineRe = regexp.MustCompile(`^crm_[A-Za-z0-9_-]{20,}\n$`)

// checkToken checks that a command printed a token alone on one line.
func checkToken(t *testing.T, stdout string) string {
	t.Helper()
	if !tokenLineRe.MatchString(stdout) {
		t.Fatalf("stdout is %q, want a token alone on one line", stdout)
	}
	return strings.TrimSuffix(stdout, "\n")
}

// lifecycle is the operator's story, the same on both databases.
// keyFile is the key file init must create (SQLite), or "".
// exec runs SQL on the database behind the binary's back.
func lifecycle(t *testing.T, e *e2e, keyFile string, execSQL func(query string) error) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// init prints the token alone on standard output.
	stdout, stderr := e.mustRun("init", "--org", "Acme", "--admin-email", "Admin@Acme.example", "--admin-password-file", pwFile)
	token := checkToken(t, stdout)
	if !strings.Contains(stderr, `created organisation "Acme"`) {
		t.Errorf("init's standard error does not tell what it did:\n%s", stderr)
	}
	var keyBytes []byte
	if keyFile != "" {
		fi, err := os.Stat(keyFile)
		if err != nil {
			t.Fatalf("init made no key file: %v\n%s", err, stderr)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
		}
		if !strings.Contains(stderr, "key file generated at") || !strings.Contains(stderr, "mode 0600") || !strings.Contains(stderr, "back it up") {
			t.Errorf("init does not tell about the key file it made:\n%s", stderr)
		}
		keyBytes, _ = os.ReadFile(keyFile)
		if fi, err := os.Stat(e.db); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("database file: %v, mode %v; want 0600", err, fi.Mode().Perm())
		}
	}

	// A second init fails, says why, and changes nothing.
	stdout, stderr, code := e.run("init", "--org", "Other", "--admin-email", "other@other.example")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "crmsync: this database is already initialised") || !strings.Contains(stderr, "crmsync org create") {
		t.Fatalf("second init: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if keyFile != "" {
		if b, _ := os.ReadFile(keyFile); !bytes.Equal(b, keyBytes) {
			t.Error("the second init changed the key file")
		}
	}

	// serve; records created over the API.
	srv := e.serve()
	users := srv.mustCall(200, "GET", "/api/v1/users", token, nil)
	if n := len(users["data"].([]any)); n != 1 {
		t.Errorf("%d users after a refused second init, want 1: %v", n, users)
	}
	tokens := srv.mustCall(200, "GET", "/api/v1/tokens", token, nil)
	if n := len(tokens["data"].([]any)); n != 1 {
		t.Errorf("%d tokens after a refused second init, want 1: %v", n, tokens)
	}
	login := srv.mustCall(200, "POST", "/api/v1/login", "", map[string]string{"email": "admin@acme.example", "password": "correct horse battery"})
	if login["token"] == nil {
		t.Errorf("login with the password from --admin-password-file: %v", login)
	}
	company := srv.mustCall(201, "POST", "/api/v1/companies", token, map[string]any{"name": "Globex", "domains": []string{"globex.example"}})
	companyID := company["id"].(float64)
	contact := srv.mustCall(201, "POST", "/api/v1/contacts", token, map[string]any{
		"first_name": "Hank", "last_name": "Scorpio", "emails": []string{"hank@globex.example"}, "company_id": companyID})
	contactID := contact["id"].(float64)
	opp := srv.mustCall(201, "POST", "/api/v1/opportunities", token, map[string]any{
		"name": "Doomsday device", "company_id": companyID, "contact_ids": []float64{contactID}})
	oppID := opp["id"].(float64)
	srv.stop()

	// Started again, everything is still there.
	srv = e.serve()
	paths := []string{
		fmt.Sprintf("/api/v1/companies/%d", int64(companyID)),
		fmt.Sprintf("/api/v1/contacts/%d", int64(contactID)),
		fmt.Sprintf("/api/v1/opportunities/%d", int64(oppID)),
	}
	if got := srv.mustCall(200, "GET", paths[0], token, nil); got["name"] != "Globex" {
		t.Errorf("company after restart: %v", got)
	}
	if got := srv.mustCall(200, "GET", paths[1], token, nil); got["last_name"] != "Scorpio" || got["company_id"] != companyID {
		t.Errorf("contact after restart: %v", got)
	}
	if got := srv.mustCall(200, "GET", paths[2], token, nil); got["name"] != "Doomsday device" || got["company_id"] != companyID {
		t.Errorf("opportunity after restart: %v", got)
	}

	// A second organisation, added beside the running server, sees none of it.
	stdout, _ = e.mustRun("org", "create", "--name", "Initech", "--admin-email", "bill@initech.example")
	token2 := checkToken(t, stdout)
	if org := srv.mustCall(200, "GET", "/api/v1/org", token2, nil); org["name"] != "Initech" {
		t.Errorf("second organisation: %v", org)
	}
	for _, p := range paths {
		srv.mustCall(404, "GET", p, token2, nil)
	}
	stdout, stderr, code = e.run("org", "create", "--name", "Dup", "--admin-email", "bill@initech.example")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "--admin-email") {
		t.Errorf("org create with a taken email: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	srv.stop()

	// worker runs the loops alone and stops cleanly.
	e.start(regexp.MustCompile(`worker started`), "worker").stop()

	// Keys.
	if keyFile != "" {
		stdout, stderr = e.mustRun("keys", "rotate")
		if !strings.Contains(stdout, "scanned 0 credentials") || !strings.Contains(stderr, "added key") {
			t.Errorf("keys rotate: stdout %q stderr %q", stdout, stderr)
		}
		if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file after rotation: %v %v", err, fi.Mode())
		}
	} else {
		_, stderr = e.mustRun("keys", "rotate")
		if !strings.Contains(stderr, "no key added") {
			t.Errorf("keys rotate with keys in the environment: %q", stderr)
		}
	}
	stdout, _ = e.mustRun("keys", "usage")
	if !strings.Contains(stdout, "active") {
		t.Errorf("keys usage: %q", stdout)
	}

	// migrate on a current database applies nothing.
	_, stderr = e.mustRun("migrate")
	m := regexp.MustCompile(`schema at version (\d+) \(applied 0\)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("migrate on a current database: %q", stderr)
	}
	latest := m[1]

	// A schema one version behind: serve refuses to start.
	if err := execSQL(`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = e.run("serve", "--http", "127.0.0.1:0")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "crmsync: store: database schema is behind") {
		t.Fatalf("serve on a schema behind: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// With a single migration, "one behind" is version 0, which the store
	// reports as an empty database (run init); from two on it says migrate.
	if latest != "1" && !strings.Contains(stderr, "run `crmsync migrate`") {
		t.Errorf("serve on a schema behind does not say to run crmsync migrate: %q", stderr)
	}
	if _, stderr, code := e.run("keys", "usage"); code != 1 || !strings.Contains(stderr, "schema is behind") {
		t.Errorf("keys usage on a schema behind: exit %d, %q", code, stderr)
	}
}

func TestEndToEndSQLite(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "crmsync.db")
	e := newE2E(t, db)
	if out, _ := e.mustRun("version"); !strings.HasPrefix(out, "crmsync "+testVersion+" (go") || !strings.HasSuffix(out, ")\n") {
		t.Errorf("version: %q", out)
	}
	lifecycle(t, e, db+".key", func(query string) error {
		sdb, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return err
		}
		defer sdb.Close()
		_, err = sdb.Exec(query)
		return err
	})
}

func TestEndToEndPostgres(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "crmsync_e2e_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	sdsn := storetest.WithSearchPath(dsn, schema)
	tables := func() int {
		var n int
		if err := admin.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Without a key, init on PostgreSQL refuses, and touches nothing.
	bare := newE2E(t, sdsn)
	stdout, stderr, code := bare.run("init", "--org", "Acme", "--admin-email", "admin@acme.example")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "CRMSYNC_SECRET_KEY") || !strings.Contains(stderr, "crmsync keys generate") {
		t.Fatalf("init without a key: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if n := tables(); n != 0 {
		t.Fatalf("init without a key created %d tables", n)
	}

	keyLine, _ := bare.mustRun("keys", "generate")
	e := newE2E(t, sdsn, "CRMSYNC_SECRET_KEY="+strings.TrimSpace(keyLine))
	lifecycle(t, e, "", func(query string) error {
		db, err := sql.Open("pgx", sdsn)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Exec(query)
		return err
	})
}
