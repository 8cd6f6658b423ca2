package api_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "correct horse battery"
	id := b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw}).ID()

	r := b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": " Pat@Acme.test", "password": pw})
	session := r.Str("token")
	if exp, _ := time.Parse(time.RFC3339, r.Str("expires_at")); !exp.Equal(b.clock.Now().Add(12 * time.Hour)) {
		t.Errorf("expires_at = %s", r.Str("expires_at"))
	}
	if u := r.Body["user"].(map[string]any); u["id"] != float64(id) {
		t.Errorf("user = %v", u)
	}
	if me := b.must(200, "GET", "/api/v1/me", session, nil); me.ID() != id {
		t.Errorf("me = %s", me.Raw)
	}
	// Session tokens are not API tokens: not listed, not counted.
	if l := b.must(200, "GET", "/api/v1/tokens", session, nil); len(l.List) != 0 {
		t.Errorf("session token listed: %s", l.Raw)
	}

	// Wrong password and unknown email get the same answer.
	wrong := b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": "not the password"})
	unknown := b.do("POST", "/api/v1/login", "", map[string]any{"email": "nobody@acme.test", "password": "not the password"})
	b.wantErr(wrong, 401, "invalid_credentials", "")
	b.wantErr(unknown, 401, "invalid_credentials", "")
	_, _, m1 := wrong.Err()
	_, _, m2 := unknown.Err()
	if m1 != m2 {
		t.Errorf("messages differ: %q vs %q", m1, m2)
	}
	b.wantErr(b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test"}), 422, "required", "password")

	// The session expires.
	b.clock.Advance(12*time.Hour + time.Second)
	b.wantErr(b.do("GET", "/api/v1/me", session, nil), 401, "unauthorized", "")

	// Logout revokes the token used.
	session = b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}).Str("token")
	b.must(204, "POST", "/api/v1/logout", session, nil)
	b.wantErr(b.do("GET", "/api/v1/me", session, nil), 401, "unauthorized", "")

	// Changing one's own password needs the current one.
	path := fmt.Sprintf("/api/v1/users/%d", id)
	session = b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}).Str("token")
	b.wantErr(b.do("PATCH", path, session, map[string]any{"password": "a new long password"}), 422, "required", "current_password")
	b.wantErr(b.do("PATCH", path, session, map[string]any{"password": "a new long password", "current_password": "guess"}), 422, "invalid_value", "current_password")
	b.wantErr(b.do("PATCH", path, session, map[string]any{"password": "short", "current_password": pw}), 422, "invalid_value", "password")
	b.must(200, "PATCH", path, session, map[string]any{"password": "a new long password", "current_password": pw})
	b.wantErr(b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}), 401, "invalid_credentials", "")
	b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": "a new long password"})
	// An admin resets it without knowing it.
	b.must(200, "PATCH", path, b.token, map[string]any{"password": "reset by the admin"})
	b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": "reset by the admin"})
}

func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "correct horse battery"
	b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw})

	const attacker, pat = "203.0.113.9:4000", "198.51.100.7:5000"
	for i := range 5 {
		r := b.doFrom(attacker, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": fmt.Sprint("guess ", i)})
		if r.Status != 401 && r.Status != 429 {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	// The guesser waits, even with the right password…
	r := b.doFrom(attacker, "POST", "/api/v1/login", "", map[string]any{"email": "PAT@acme.test", "password": pw})
	b.wantErr(r, 429, "too_many_attempts", "")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		t.Errorf("Retry-After = %q, want whole seconds", r.Header.Get("Retry-After"))
	}
	// …but Pat, who has not failed, is not locked out.
	b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw})
	b.doFrom(pat, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": "a typo"})
	if r := b.doFrom(pat, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}); r.Status != 200 {
		t.Fatalf("Pat after a typo: %d %s", r.Status, r.Raw)
	}
	// Other emails from the guesser's address are not affected.
	b.wantErr(b.doFrom(attacker, "POST", "/api/v1/login", "", map[string]any{"email": "other@acme.test", "password": "x"}), 401, "invalid_credentials", "")

	b.clock.Advance(time.Duration(secs) * time.Second)
	b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw})
}
