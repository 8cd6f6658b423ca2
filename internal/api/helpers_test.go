package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects what the server logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// bundle is one server on its own database with one organisation.
type bundle struct {
	t     *testing.T
	st    store.Store
	srv   *api.Server
	clock *clock
	logs  *logBuffer
	admin int64  // the first admin's user id
	token string // the first admin's API token
	orgID int64
}

type bundleOpts struct {
	wrap         func(store.Store) store.Store // to inject faults
	maxBodyBytes int64
	db           storetest.Factory // default storetest.SQLite
}

// onBothDBs runs fn on SQLite and, when CRMSYNC_TEST_POSTGRES is set, on
// PostgreSQL, each with its own options for setup.
func onBothDBs(t *testing.T, fn func(t *testing.T, o bundleOpts)) {
	for name, f := range map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) { fn(t, bundleOpts{db: f}) })
	}
}

func setup(t *testing.T, opts ...bundleOpts) *bundle {
	t.Helper()
	var o bundleOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	open := storetest.SQLite
	if o.db != nil {
		open = o.db
	}
	db, _ := open(t)
	var st store.Store = db
	b := &bundle{t: t, st: st, clock: &clock{t: time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)}, logs: &logBuffer{}}
	b.orgID, b.admin, b.token = b.newOrg("Acme", "admin@acme.test")
	if o.wrap != nil {
		st = o.wrap(st)
	}
	b.srv = api.New(api.Config{
		Store:        st,
		Logger:       slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now:          b.clock.Now,
		MaxBodyBytes: o.maxBodyBytes,
		Keys:         testKeys(t),
	})
	return b
}

// testKeys is a keyring of one new key (two-factor secrets are sealed).
func testKeys(t *testing.T) *secret.Keyring {
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newOrg creates an organisation with its admin and returns the admin's
// API token.
func (b *bundle) newOrg(name, adminEmail string) (orgID, adminID int64, token string) {
	b.t.Helper()
	secret, prefix, hash := auth.NewToken()
	org, admin, _, err := b.st.CreateOrg(context.Background(), store.CreateOrgParams{
		Name: name, AdminEmail: adminEmail, AdminName: "Admin of " + name,
		TokenName: "init", TokenHash: hash, TokenPrefix: prefix,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return org.ID, admin.ID, secret
}

// resp is an answer, with its body decoded as JSON when it is some.
type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
	List   []any // Body["data"]
}

// Err returns the error envelope's fields.
func (r *resp) Err() (code, field, message string) {
	e, _ := r.Body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	message, _ = e["message"].(string)
	return
}

func (r *resp) ID() int64 {
	id, _ := r.Body["id"].(float64)
	return int64(id)
}

func (r *resp) Str(k string) string {
	s, _ := r.Body[k].(string)
	return s
}

type rawBody struct {
	s           string
	contentType string
}

func raw(s string) rawBody { return rawBody{s: s, contentType: "application/json"} }

// do serves one request. body is a rawBody, nil or anything to marshal.
func (b *bundle) do(method, path, token string, body any) *resp {
	b.t.Helper()
	return b.doFrom("", method, path, token, body)
}

// doFrom serves one request from the client address addr ("" for
// httptest's).
func (b *bundle) doFrom(addr, method, path, token string, body any) *resp {
	b.t.Helper()
	var rd io.Reader
	ct := ""
	switch v := body.(type) {
	case nil:
	case rawBody:
		rd, ct = strings.NewReader(v.s), v.contentType
	default:
		j, err := json.Marshal(v)
		if err != nil {
			b.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req := httptest.NewRequest(method, path, rd)
	if addr != "" {
		req.RemoteAddr = addr
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	r := &resp{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	if rec.Header().Get("X-Request-Id") == "" {
		b.t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	if len(r.Raw) > 0 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.Raw, &r.Body); err != nil {
			b.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, r.Raw)
		}
		r.List, _ = r.Body["data"].([]any)
		if _, _, msg := r.Err(); msg != "" {
			if bad := forPeople(msg); bad != "" {
				b.t.Errorf("%s %s: the message names %s; say it in words (the OpenAPI documents the API):\n%s", method, path, bad, msg)
			}
		}
	}
	return r
}

// must serves a request and fails the test unless the status is want.
func (b *bundle) must(want int, method, path, token string, body any) *resp {
	b.t.Helper()
	r := b.do(method, path, token, body)
	if r.Status != want {
		b.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// wantErr checks an error answer's status, code and field.
func (b *bundle) wantErr(r *resp, status int, code, field string) {
	b.t.Helper()
	gotCode, gotField, msg := r.Err()
	if r.Status != status || gotCode != code || gotField != field {
		b.t.Errorf("got %d %q field %q, want %d %q field %q\n%s", r.Status, gotCode, gotField, status, code, field, r.Raw)
	}
	if msg == "" {
		b.t.Errorf("error without a message: %s", r.Raw)
	}
}

// user creates a user through the API (as the first admin) and an API
// token for them.
func (b *bundle) user(email string, role string, manager int64) (id int64, token string) {
	b.t.Helper()
	body := map[string]any{"email": email, "name": email, "role": role}
	if manager != 0 {
		body["manager_id"] = manager
	}
	id = b.must(201, "POST", "/api/v1/users", b.token, body).ID()
	token = b.must(201, "POST", fmt.Sprintf("/api/v1/users/%d/tokens", id), b.token, map[string]any{"name": "test"}).Str("token")
	return id, token
}

func ids(list []any) []int64 {
	var out []int64
	for _, it := range list {
		m := it.(map[string]any)
		out = append(out, int64(m["id"].(float64)))
	}
	return out
}

// apiWords are the marks of the API itself in a sentence: an HTTP method,
// a path, a query parameter. The error messages are for people (and the
// catalogue the web app translates), so every answer the tests get is
// checked against it (forPeople, in doFrom).
var apiWords = regexp.MustCompile(`\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /|/api/|\?[a-z_]+=|=(true|false)\b`)

// forPeople returns what in msg belongs to the API rather than to words,
// or "".
func forPeople(msg string) string {
	return apiWords.FindString(msg)
}
