package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth/limit"
)

// TestVisibility is the rule of the issue: a member cannot read a
// colleague's record; their manager can, and so can the manager's manager
// and an admin.
func TestVisibility(t *testing.T) {
	t.Parallel()
	b := setup(t)
	boss, bossTok := b.user("boss@acme.test", "manager", 0)
	mgr, mgrTok := b.user("mgr@acme.test", "manager", boss)
	_, aTok := b.user("a@acme.test", "member", mgr)
	bID, bTok := b.user("b@acme.test", "member", mgr)
	_, otherMgrTok := b.user("other-mgr@acme.test", "manager", 0)

	// Member B's records.
	co := b.must(201, "POST", "/api/v1/companies", bTok, map[string]any{"name": "B's company"}).ID()
	ct := b.must(201, "POST", "/api/v1/contacts", bTok, map[string]any{"first_name": "B's contact", "company_id": co}).ID()
	op := b.must(201, "POST", "/api/v1/opportunities", bTok, map[string]any{"name": "B's deal", "contact_ids": []int64{ct}}).ID()
	paths := []string{
		fmt.Sprintf("/api/v1/companies/%d", co),
		fmt.Sprintf("/api/v1/contacts/%d", ct),
		fmt.Sprintf("/api/v1/opportunities/%d", op),
	}
	for _, tc := range []struct {
		who   string
		token string
		sees  bool
	}{
		{"the owner", bTok, true},
		{"a colleague", aTok, false},
		{"their manager", mgrTok, true},
		{"their manager's manager", bossTok, true},
		{"another team's manager", otherMgrTok, false},
		{"an admin", b.token, true},
	} {
		for _, p := range paths {
			r := b.do("GET", p, tc.token, nil)
			if tc.sees && r.Status != 200 {
				t.Errorf("%s: GET %s = %d, want 200: %s", tc.who, p, r.Status, r.Raw)
			}
			if !tc.sees {
				b.wantErr(r, 404, "not_found", "")
				b.wantErr(b.do("PATCH", p, tc.token, map[string]any{}), 404, "not_found", "")
				b.wantErr(b.do("DELETE", p, tc.token, nil), 404, "not_found", "")
			}
		}
		n := len(b.must(200, "GET", "/api/v1/contacts", tc.token, nil).List)
		if want := map[bool]int{true: 1, false: 0}[tc.sees]; n != want {
			t.Errorf("%s lists %d contacts, want %d", tc.who, n, want)
		}
	}

	// A colleague cannot link to records they cannot see, nor give records
	// to someone outside their reach.
	b.wantErr(b.do("POST", "/api/v1/contacts", aTok, map[string]any{"first_name": "x", "company_id": co}), 422, "not_found", "company_id")
	b.wantErr(b.do("POST", "/api/v1/opportunities", aTok, map[string]any{"name": "x", "contact_ids": []int64{ct}}), 422, "not_found", "contact_ids[0]")
	r := b.do("POST", "/api/v1/contacts", aTok, map[string]any{"first_name": "x", "owner_id": bID})
	if r.Status != 422 {
		t.Errorf("member giving a record to a colleague: %d %s", r.Status, r.Raw)
	}
	// Their manager may reassign within the team.
	b.must(200, "PATCH", paths[1], mgrTok, map[string]any{"owner_id": mgr})
	b.wantErr(b.do("GET", paths[1], bTok, nil), 404, "not_found", "")
}

// TestOtherOrganisation: a token of another organisation gets 404 for every
// id of ours, whatever the method, and sees nothing in lists.
func TestOtherOrganisation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, tok2 := b.newOrg("Evil Corp", "admin@evil.test")

	member, memberTok := b.user("m@acme.test", "member", 0)
	co := b.must(201, "POST", "/api/v1/companies", b.token, map[string]any{"name": "Acme's client"}).ID()
	ct := b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "Acme's contact"}).ID()
	op := b.must(201, "POST", "/api/v1/opportunities", b.token, map[string]any{"name": "Acme's deal"}).ID()
	tokID := b.must(200, "GET", "/api/v1/tokens", memberTok, nil).List[0].(map[string]any)["id"].(float64)

	type probe struct {
		method, path string
		body         any
	}
	var probes []probe
	for _, rec := range []struct {
		kind string
		id   int64
		body map[string]any
	}{
		{"companies", co, map[string]any{"name": "pwned"}},
		{"contacts", ct, map[string]any{"first_name": "pwned"}},
		{"opportunities", op, map[string]any{"name": "pwned"}},
		{"users", member, map[string]any{"name": "pwned"}},
		{"users", b.admin, map[string]any{"name": "pwned"}},
	} {
		p := fmt.Sprintf("/api/v1/%s/%d", rec.kind, rec.id)
		probes = append(probes, probe{"GET", p, nil}, probe{"PATCH", p, rec.body}, probe{"DELETE", p, nil})
	}
	for _, u := range []int64{member, b.admin} {
		probes = append(probes,
			probe{"GET", fmt.Sprintf("/api/v1/users/%d/tokens", u), nil},
			probe{"POST", fmt.Sprintf("/api/v1/users/%d/tokens", u), map[string]any{"name": "pwned"}},
			probe{"DELETE", fmt.Sprintf("/api/v1/users/%d/tokens/%d", u, int64(tokID)), nil})
	}
	probes = append(probes, probe{"DELETE", fmt.Sprintf("/api/v1/tokens/%d", int64(tokID)), nil})
	for _, p := range probes {
		r := b.do(p.method, p.path, tok2, p.body)
		if r.Status != 404 {
			t.Errorf("other org: %s %s = %d, want 404: %s", p.method, p.path, r.Status, r.Raw)
		}
	}
	// Nothing of ours was changed.
	if got := b.must(200, "GET", fmt.Sprintf("/api/v1/companies/%d", co), b.token, nil).Str("name"); got != "Acme's client" {
		t.Errorf("company renamed to %q", got)
	}
	b.must(200, "GET", "/api/v1/me", memberTok, nil)
	// Lists show only their own organisation.
	for _, p := range []string{"/api/v1/companies", "/api/v1/contacts", "/api/v1/opportunities"} {
		if n := len(b.must(200, "GET", p, tok2, nil).List); n != 0 {
			t.Errorf("other org lists %d records at %s", n, p)
		}
	}
	if users := b.must(200, "GET", "/api/v1/users", tok2, nil).List; len(users) != 1 {
		t.Errorf("other org sees %d users, want only its admin", len(users))
	}
	// References across organisations are refused like unknown ones.
	b.wantErr(b.do("POST", "/api/v1/contacts", tok2, map[string]any{"first_name": "x", "company_id": co}), 422, "not_found", "company_id")
	b.wantErr(b.do("POST", "/api/v1/contacts", tok2, map[string]any{"first_name": "x", "owner_id": member}), 422, "not_found", "owner_id")
	b.wantErr(b.do("POST", "/api/v1/users", tok2, map[string]any{"email": "x@evil.test", "name": "x", "manager_id": member}), 422, "not_found", "manager_id")
}

func TestUserAdministration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mgr, mgrTok := b.user("mgr@acme.test", "manager", 0)
	m, mTok := b.user("m@acme.test", "member", mgr)

	// Everyone sees the directory; only admins change it.
	if n := len(b.must(200, "GET", "/api/v1/users", mTok, nil).List); n != 3 {
		t.Errorf("member sees %d users", n)
	}
	if l := b.must(200, "GET", fmt.Sprintf("/api/v1/users?manager_id=%d", mgr), mTok, nil).List; !slices.Equal(ids(l), []int64{m}) {
		t.Errorf("manager_id filter: %v", ids(l))
	}
	if l := b.must(200, "GET", "/api/v1/users?role=admin", mTok, nil).List; !slices.Equal(ids(l), []int64{b.admin}) {
		t.Errorf("role filter: %v", ids(l))
	}
	b.wantErr(b.do("GET", "/api/v1/users?role=boss", mTok, nil), 400, "invalid_parameter", "role")
	b.must(200, "GET", fmt.Sprintf("/api/v1/users/%d", b.admin), mTok, nil)
	if me := b.must(200, "GET", "/api/v1/me", mTok, nil); me.ID() != m || me.Str("role") != "member" {
		t.Errorf("me: %s", me.Raw)
	}
	if org := b.must(200, "GET", "/api/v1/org", mTok, nil); org.Str("name") != "Acme" {
		t.Errorf("org: %s", org.Raw)
	}

	b.wantErr(b.do("POST", "/api/v1/users", mgrTok, map[string]any{"email": "x@acme.test", "name": "X"}), 403, "forbidden", "")
	b.wantErr(b.do("DELETE", fmt.Sprintf("/api/v1/users/%d", m), mgrTok, nil), 403, "forbidden", "")
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", m), mgrTok, map[string]any{"name": "X"}), 403, "forbidden", "")
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", m), mTok, map[string]any{"role": "admin"}), 403, "forbidden", "role")
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", m), mTok, map[string]any{"manager_id": nil}), 403, "forbidden", "manager_id")
	if r := b.must(200, "PATCH", fmt.Sprintf("/api/v1/users/%d", m), mTok, map[string]any{"name": "Emm"}); r.Str("name") != "Emm" {
		t.Errorf("rename self: %s", r.Raw)
	}

	// Validation.
	b.wantErr(b.do("POST", "/api/v1/users", b.token, map[string]any{"name": "X"}), 422, "required", "email")
	b.wantErr(b.do("POST", "/api/v1/users", b.token, map[string]any{"email": "not-an-email", "name": "X"}), 422, "invalid_value", "email")
	b.wantErr(b.do("POST", "/api/v1/users", b.token, map[string]any{"email": "x@acme.test"}), 422, "required", "name")
	b.wantErr(b.do("POST", "/api/v1/users", b.token, map[string]any{"email": "x@acme.test", "name": "X", "role": "owner"}), 422, "invalid_value", "role")
	b.wantErr(b.do("POST", "/api/v1/users", b.token, map[string]any{"email": "x@acme.test", "name": "X", "password": "short"}), 422, "invalid_value", "password")
	b.wantErr(b.do("POST", "/api/v1/users", b.token, map[string]any{"email": "M@acme.test", "name": "X"}), 409, "conflict", "email")
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", mgr), b.token, map[string]any{"email": "m@acme.test"}), 409, "conflict", "email")
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", mgr), b.token, map[string]any{"manager_id": m}), 422, "cycle", "manager_id")
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", mgr), b.token, map[string]any{"manager_id": mgr}), 422, "invalid_value", "manager_id")

	// The last admin cannot be demoted, nor delete themself.
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", b.admin), b.token, map[string]any{"role": "member"}), 422, "invalid_value", "role")
	b.wantErr(b.do("DELETE", fmt.Sprintf("/api/v1/users/%d", b.admin), b.token, nil), 422, "invalid_value", "id")
	// With a second admin the first may step down.
	b.must(200, "PATCH", fmt.Sprintf("/api/v1/users/%d", mgr), b.token, map[string]any{"role": "admin", "manager_id": nil})
	b.must(200, "PATCH", fmt.Sprintf("/api/v1/users/%d", b.admin), b.token, map[string]any{"role": "manager"})
	b.wantErr(b.do("POST", "/api/v1/users", b.token, map[string]any{"email": "y@acme.test", "name": "Y"}), 403, "forbidden", "")

	// A user who owns records cannot be deleted until they are reassigned.
	ct := b.must(201, "POST", "/api/v1/contacts", mTok, map[string]any{"first_name": "Mine"}).ID()
	r := b.do("DELETE", fmt.Sprintf("/api/v1/users/%d", m), mgrTok, nil)
	b.wantErr(r, 409, "in_use", "reassign_to")
	b.must(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", ct), mgrTok, map[string]any{"owner_id": mgr})
	b.must(200, "DELETE", fmt.Sprintf("/api/v1/users/%d", m), mgrTok, nil)
	b.wantErr(b.do("GET", "/api/v1/me", mTok, nil), 401, "unauthorized", "")
	b.wantErr(b.do("GET", fmt.Sprintf("/api/v1/users/%d", m), mgrTok, nil), 404, "not_found", "")
}

func TestTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m, mTok := b.user("m@acme.test", "member", 0) // holds 1 token
	other, _ := b.user("o@acme.test", "member", 0)

	var created []float64
	for i := 2; i <= 10; i++ {
		r := b.must(201, "POST", "/api/v1/tokens", mTok, map[string]any{"name": fmt.Sprint("token ", i)})
		if r.Str("kind") != "api" || r.Body["last_used_at"] != nil || len(r.Str("token")) < 40 || r.Str("prefix") != r.Str("token")[:10] {
			t.Fatalf("created token: %s", r.Raw)
		}
		if r.Header.Get("Location") != fmt.Sprintf("/api/v1/tokens/%d", r.ID()) {
			t.Errorf("Location %q", r.Header.Get("Location"))
		}
		created = append(created, float64(r.ID()))
	}
	r := b.do("POST", "/api/v1/tokens", mTok, map[string]any{"name": "eleventh"})
	b.wantErr(r, 409, "token_limit", "")
	if _, _, msg := r.Err(); !contains(msg, "Revoke one you no longer use") {
		t.Errorf("token_limit message does not say what to do: %q", msg)
	}
	// An admin is held to the same limit for the user.
	b.wantErr(b.do("POST", fmt.Sprintf("/api/v1/users/%d/tokens", m), b.token, map[string]any{"name": "x"}), 409, "token_limit", "")
	// Revoking one makes room.
	b.must(204, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", int64(created[0])), mTok, nil)
	b.must(201, "POST", "/api/v1/tokens", mTok, map[string]any{"name": "eleventh"})

	// Lists never show secrets, and show when each token was last used.
	b.clock.Advance(time.Hour)
	l := b.must(200, "GET", "/api/v1/tokens", mTok, nil)
	if len(l.List) != 10 || contains(string(l.Raw), `"token"`) {
		t.Fatalf("list: %s", l.Raw)
	}
	first := l.List[0].(map[string]any)
	if first["name"] != "test" || first["last_used_at"] == nil {
		t.Errorf("the token in use should show last_used_at: %v", first)
	}
	if lu, _ := time.Parse(time.RFC3339, first["last_used_at"].(string)); !lu.Equal(b.clock.Now()) {
		t.Errorf("last_used_at = %v, want %v", first["last_used_at"], b.clock.Now())
	}
	if l.List[1].(map[string]any)["last_used_at"] != nil {
		t.Errorf("an unused token shows last_used_at: %v", l.List[1])
	}

	// A revoked token no longer works.
	secret := b.must(201, "POST", "/api/v1/users/"+fmt.Sprint(other)+"/tokens", b.token, map[string]any{"name": "x"})
	b.must(200, "GET", "/api/v1/me", secret.Str("token"), nil)
	b.must(204, "DELETE", fmt.Sprintf("/api/v1/users/%d/tokens/%d", other, secret.ID()), b.token, nil)
	r = b.do("GET", "/api/v1/me", secret.Str("token"), nil)
	b.wantErr(r, 401, "unauthorized", "")
	if !contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}

	// Members manage only their own tokens.
	b.wantErr(b.do("GET", fmt.Sprintf("/api/v1/users/%d/tokens", other), mTok, nil), 403, "forbidden", "")
	b.wantErr(b.do("POST", fmt.Sprintf("/api/v1/users/%d/tokens", other), mTok, map[string]any{"name": "x"}), 403, "forbidden", "")
	b.must(200, "GET", fmt.Sprintf("/api/v1/users/%d/tokens", m), mTok, nil)
	b.wantErr(b.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", secret.ID()), mTok, nil), 404, "not_found", "")
	b.wantErr(b.do("POST", "/api/v1/tokens", mTok, map[string]any{"name": " "}), 422, "required", "name")
	b.wantErr(b.do("POST", "/api/v1/tokens", mTok, map[string]any{"name": strings.Repeat("x", 101)}), 422, "invalid_value", "name")

	for _, h := range []string{"Basic abc", "Bearer", "Bearer nope", "Bearer crm_nope"} {
		req := httptest.NewRequest("GET", "/api/v1/me", nil)
		req.Header.Set("Authorization", h)
		rec := httptest.NewRecorder()
		b.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || !contains(rec.Body.String(), "Sign in to get one") {
			t.Errorf("Authorization %q: %d %s", h, rec.Code, rec.Body)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestConcurrentLimits fires requests at once: the token limit and the
// login limiter hold under concurrency (and -race sees the shared state).
func TestConcurrentLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, tok := b.user("m@acme.test", "member", 0) // holds 1 token
	b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": "correct horse battery"})

	serve := func(method, path, token, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		b.srv.ServeHTTP(rec, req)
		return rec.Code
	}
	count := func(n int, f func() int) map[int]int {
		var mu sync.Mutex
		var wg sync.WaitGroup
		got := map[int]int{}
		for range n {
			wg.Go(func() {
				code := f()
				mu.Lock()
				got[code]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return got
	}

	got := count(20, func() int { return serve("POST", "/api/v1/tokens", tok, `{"name":"burst"}`) })
	if got[201] != 9 || got[409] != 11 {
		t.Errorf("20 concurrent token creations with 1 held: %v, want 9 created and 11 refused", got)
	}
	got = count(10, func() int {
		return serve("POST", "/api/v1/login", "", `{"email":"pat@acme.test","password":"wrong guess"}`)
	})
	if free := limit.DefaultPolicy.FreeFailures; got[401] != free || got[429] != 10-free {
		t.Errorf("10 concurrent wrong sign-ins from one address: %v, want %d checked and the rest refused", got, free)
	}
}
