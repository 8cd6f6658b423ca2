package api_test

import (
	"fmt"
	"testing"
)

// TestPasswordChangeEndsOtherSessions: a new password ends every other
// session at once; API tokens keep working and are listed in the answer;
// deleting the user ends everything.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "correct horse battery"
	id := b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw}).ID()
	path := fmt.Sprintf("/api/v1/users/%d", id)
	apiTok := b.must(201, "POST", path+"/tokens", b.token, map[string]any{"name": "calendar script"}).Str("token")
	login := func(pw string) string {
		return b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}).Str("token")
	}
	laptop, phone, tablet := login(pw), login(pw), login(pw)
	other := b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "sam@acme.test", "name": "Sam", "password": pw}).ID()
	samSession := b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "sam@acme.test", "password": pw}).Str("token")

	// Pat changes it from the laptop: the phone and tablet are out.
	r := b.must(200, "PATCH", path, laptop, map[string]any{"password": "a new long password", "current_password": pw})
	pc, _ := r.Body["password_change"].(map[string]any)
	if pc == nil || pc["sessions_ended"] != float64(2) || pc["message"] == "" {
		t.Fatalf("password_change = %v", r.Body["password_change"])
	}
	if toks, _ := pc["api_tokens"].([]any); len(toks) != 1 || toks[0].(map[string]any)["name"] != "calendar script" {
		t.Errorf("api_tokens = %v, want the calendar script's", pc["api_tokens"])
	}
	if r.Str("email") != "pat@acme.test" {
		t.Errorf("the answer is not the user: %s", r.Raw)
	}
	for _, tok := range []string{phone, tablet} {
		b.wantErr(b.do("GET", "/api/v1/me", tok, nil), 401, "unauthorized", "")
	}
	b.must(200, "GET", "/api/v1/me", laptop, nil)
	b.must(200, "GET", "/api/v1/me", apiTok, nil)
	b.must(200, "GET", "/api/v1/me", samSession, nil) // another user is untouched

	// Changing it with an API token ends every session.
	phone = login("a new long password")
	r = b.must(200, "PATCH", path, apiTok, map[string]any{"password": "another long password", "current_password": "a new long password"})
	if pc := r.Body["password_change"].(map[string]any); pc["sessions_ended"] != float64(2) {
		t.Errorf("sessions_ended = %v, want 2 (laptop and phone)", pc["sessions_ended"])
	}
	b.wantErr(b.do("GET", "/api/v1/me", laptop, nil), 401, "unauthorized", "")
	b.wantErr(b.do("GET", "/api/v1/me", phone, nil), 401, "unauthorized", "")

	// An admin's reset ends all of Pat's sessions.
	laptop = login("another long password")
	r = b.must(200, "PATCH", path, b.token, map[string]any{"password": "reset by the admin"})
	if pc := r.Body["password_change"].(map[string]any); pc["sessions_ended"] != float64(1) {
		t.Errorf("sessions_ended after the admin's reset = %v, want 1", pc["sessions_ended"])
	}
	b.wantErr(b.do("GET", "/api/v1/me", laptop, nil), 401, "unauthorized", "")
	b.must(200, "GET", "/api/v1/me", apiTok, nil)
	b.must(200, "GET", "/api/v1/me", b.token, nil)

	// Other changes end nothing and say nothing of it.
	laptop = login("reset by the admin")
	if r := b.must(200, "PATCH", path, laptop, map[string]any{"name": "Pat Doe"}); r.Body["password_change"] != nil {
		t.Errorf("a name change has password_change: %s", r.Raw)
	}
	b.must(200, "GET", "/api/v1/me", laptop, nil)

	// Deleting a user ends everything (deactivation too: offboard_test.go).
	b.must(200, "DELETE", path, b.token, nil)
	b.wantErr(b.do("GET", "/api/v1/me", laptop, nil), 401, "unauthorized", "")
	b.wantErr(b.do("GET", "/api/v1/me", apiTok, nil), 401, "unauthorized", "")
	b.must(200, "GET", fmt.Sprintf("/api/v1/users/%d", other), samSession, nil)
}
