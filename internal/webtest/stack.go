// Package webtest runs crmsync as an operator would (the real binary,
// `crmsync init` then `crmsync serve`, on SQLite or PostgreSQL) and drives
// its web app in a real Chromium (Debian's, through chromedp), for the
// browser tests of every flow of the web app. Only tests import it.
//
// Pages are driven by their visible labels and button texts, in the
// language of the test, as a user would: Fill("Email", …), Click("Sign
// in"). Axe runs the vendored axe-core (npm axe-core, MPL-2.0, in
// axe.min.js) in the page and reports serious and critical violations.
package webtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/store/storetest"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the test schema
)

var build struct {
	once sync.Once
	bin  string
	err  error
}

// Binary builds ./cmd/crmsync once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "crmsync-webtest-")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "crmsync")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/crmsync")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// Options choose how the stack runs.
type Options struct {
	// Postgres runs it on a new schema of CRMSYNC_TEST_POSTGRES (skipped
	// without one, failed under CI=true); else SQLite in a temporary
	// directory.
	Postgres bool
	// Env is added to the environment of every command (CRMSYNC_…
	// settings: CRMSYNC_SMTP, CRMSYNC_DROPBOX_DOMAIN, CRMSYNC_PUBLIC_URL…).
	Env []string
	// Args are added to serve's command line.
	Args []string
	// PublicURL gives serve its own address as --public-url, so that the
	// sign-in providers' redirects (Microsoft, Google, OpenID Connect)
	// come back to it.
	PublicURL bool
}

// Stack is a running crmsync: `init` done (organisation "Acme", admin
// admin@acme.test with the password AdminPassword), `serve` listening.
type Stack struct {
	t     testing.TB
	bin   string
	dir   string
	env   []string
	URL   string // http://127.0.0.1:port
	Admin User
	Logs  *bytes.Buffer // serve's standard error

	mu sync.Mutex
}

// User is a user of the stack with a password and an API token.
type User struct {
	ID       int64
	Email    string
	Password string
	Token    string
}

// AdminPassword is the first admin's password.
const AdminPassword = "admin-password-1"

// Start runs init and serve and waits until the server answers; they
// stop when the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{t: t, bin: Binary(t), dir: t.TempDir(), Logs: &bytes.Buffer{}}
	s.env = append(s.env, "CRMSYNC_PRIVATE_HOSTS=127.0.0.0/8") // test servers are on loopback
	if o.Postgres {
		dsn := storetest.PostgresDSN(t)
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		var b [6]byte
		rand.Read(b[:])
		schema := "crmsync_web_" + hex.EncodeToString(b[:])
		if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			admin.Close()
		})
		key := strings.TrimSpace(s.mustRun("keys", "generate"))
		s.env = append(s.env, "CRMSYNC_DB="+storetest.WithSearchPath(dsn, schema), "CRMSYNC_SECRET_KEY="+key)
	} else {
		s.env = append(s.env, "CRMSYNC_DB="+filepath.Join(s.dir, "crmsync.db"))
	}
	s.env = append(s.env, o.Env...)
	tokenFile := filepath.Join(s.dir, "token.txt")
	s.mustRun("init", "--org", "Acme", "--admin-email", "admin@acme.test", "--admin-name", "Ada Admin", "--token-out", tokenFile)
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	s.Admin = User{Email: "admin@acme.test", Password: AdminPassword, Token: strings.TrimSpace(string(tok))}

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"serve", "--http", "127.0.0.1:" + port}
	if o.PublicURL {
		args = append(args, "--public-url", "http://127.0.0.1:"+port)
	}
	cmd := s.command(ctx, append(args, o.Args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, &lockedWriter{w: s.Logs, mu: &s.mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("serve's log:\n%s", s.Log())
		}
	})
	s.URL = "http://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get(s.URL + "/healthz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer in 30s: %v\n%s", err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var me struct{ ID int64 }
	s.MustAPI("GET", "/api/v1/me", s.Admin.Token, nil, &me)
	s.Admin.ID = me.ID
	s.SetPassword(s.Admin.ID, AdminPassword)
	return s
}

// Log is what serve wrote so far.
func (s *Stack) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Logs.String()
}

func (s *Stack) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRMSYNC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Dir = s.dir
	return cmd
}

// Run runs a crmsync command against the stack's database.
func (s *Stack) Run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := s.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("crmsync %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (s *Stack) mustRun(args ...string) string {
	s.t.Helper()
	out, err := s.Run(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// API calls the REST API (to set up what a test needs, or to check what
// a page did); out, when not nil, receives the JSON answer.
func (s *Stack) API(method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return r.StatusCode, err
	}
	if r.StatusCode >= 300 {
		return r.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, r.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		return r.StatusCode, json.Unmarshal(data, out)
	}
	return r.StatusCode, nil
}

// MustAPI is API that fails the test on an error or a status ≥ 300.
func (s *Stack) MustAPI(method, path, token string, body, out any) {
	s.t.Helper()
	if _, err := s.API(method, path, token, body, out); err != nil {
		s.t.Fatal(err)
	}
}

// SetPassword sets a user's password the operator's way.
func (s *Stack) SetPassword(userID int64, password string) {
	s.t.Helper()
	var u struct{ Email string }
	s.MustAPI("GET", fmt.Sprintf("/api/v1/users/%d", userID), s.Admin.Token, nil, &u)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.command(ctx, "users", "password", "--email", u.Email)
	cmd.Stdin = strings.NewReader(password + "\n" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("users password: %v\n%s", err, out)
	}
}

// NewUser creates a user of the organisation (role member, manager or
// admin) with a password and an API token.
func (s *Stack) NewUser(email, name, role string) User {
	s.t.Helper()
	var u struct{ ID int64 }
	s.MustAPI("POST", "/api/v1/users", s.Admin.Token, map[string]any{"email": email, "name": name, "role": role}, &u)
	var tok struct{ Token string }
	s.MustAPI("POST", fmt.Sprintf("/api/v1/users/%d/tokens", u.ID), s.Admin.Token, map[string]any{"name": "webtest"}, &tok)
	pw := "pw-" + strings.ReplaceAll(email, "@", "-at-")
	s.SetPassword(u.ID, pw)
	return User{ID: u.ID, Email: email, Password: pw, Token: tok.Token}
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
