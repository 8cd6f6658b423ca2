package api_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/store/storetest"
)

// TestSessionsListedAndRevocable: a user lists their sessions (which one
// is this, where each came from), ends one, then signs out everywhere; API
// tokens keep working, and another user's session cannot be touched.
func TestSessionsListedAndRevocable(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		t.Parallel()
		b := setup(t, bundleOpts{db: f})
		const pw = "correct horse battery"
		for _, email := range []string{"pat@acme.test", "sam@acme.test"} {
			b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": email, "name": email, "password": pw})
		}
		// login signs in from a client address with a User-Agent.
		login := func(email, addr, agent string) string {
			t.Helper()
			req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)))
			req.RemoteAddr, req.Header["User-Agent"] = addr, []string{agent}
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			b.srv.ServeHTTP(rec, req)
			var out struct{ Token string }
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Token == "" {
				t.Fatalf("login %s: %d %s", email, rec.Code, rec.Body)
			}
			return out.Token
		}
		laptop := login("pat@acme.test", "192.0.2.10:5000", "Firefox/140.0 (laptop)")
		b.clock.Advance(time.Minute)
		phone := login("pat@acme.test", "[::ffff:198.51.100.7]:6000", "crmsync-ios/1.2")
		sam := login("sam@acme.test", "203.0.113.1:7000", "curl/8")
		patAPI := b.must(201, "POST", "/api/v1/tokens", laptop, map[string]any{"name": "script"}).Str("token")

		// Two sessions, oldest first, the caller's marked, each with its
		// client; the API token is not among them.
		list := b.must(200, "GET", "/api/v1/sessions", phone, nil).List
		if len(list) != 2 {
			t.Fatalf("sessions = %v, want the laptop's and the phone's", list)
		}
		first, second := list[0].(map[string]any), list[1].(map[string]any)
		for _, c := range []struct {
			s        map[string]any
			ip, ua   string
			current  bool
			createdA string
		}{
			{first, "192.0.2.10", "Firefox/140.0 (laptop)", false, "2030-01-02T09:00:00Z"},
			{second, "198.51.100.7", "crmsync-ios/1.2", true, "2030-01-02T09:01:00Z"},
		} {
			if c.s["client_ip"] != c.ip || c.s["user_agent"] != c.ua || c.s["current"] != c.current || c.s["created_at"] != c.createdA || c.s["kind"] != "session" {
				t.Errorf("session %v, want ip %s, user agent %q, current %v, created %s", c.s, c.ip, c.ua, c.current, c.createdA)
			}
			if _, ok := c.s["last_used_at"]; !ok {
				t.Errorf("session %v has no last_used_at", c.s)
			}
		}
		if first["last_used_at"] == nil {
			t.Errorf("the laptop's session was used (it made a token) but last_used_at is null: %v", first)
		}
		laptopID, phoneID := int64(first["id"].(float64)), int64(second["id"].(float64))
		// Seen from the laptop, the laptop is current.
		if l := b.must(200, "GET", "/api/v1/sessions", laptop, nil).List; len(l) != 2 || l[0].(map[string]any)["current"] != true || l[1].(map[string]any)["current"] != false {
			t.Errorf("from the laptop: %v", l)
		}
		// API tokens are listed with the tokens, not here, and without a client.
		if toks := b.must(200, "GET", "/api/v1/tokens", laptop, nil).List; len(toks) != 1 || toks[0].(map[string]any)["client_ip"] != nil {
			t.Errorf("tokens = %v", toks)
		}

		// Another user's session, an API token's id, nonsense: not found.
		samID := int64(b.must(200, "GET", "/api/v1/sessions", sam, nil).List[0].(map[string]any)["id"].(float64))
		b.wantErr(b.do("DELETE", fmt.Sprintf("/api/v1/sessions/%d", samID), laptop, nil), 404, "not_found", "")
		b.must(200, "GET", "/api/v1/me", sam, nil)
		apiID := int64(b.must(200, "GET", "/api/v1/tokens", laptop, nil).List[0].(map[string]any)["id"].(float64))
		b.wantErr(b.do("DELETE", fmt.Sprintf("/api/v1/sessions/%d", apiID), laptop, nil), 404, "not_found", "")
		b.must(200, "GET", "/api/v1/me", patAPI, nil)
		b.wantErr(b.do("DELETE", "/api/v1/sessions/abc", laptop, nil), 400, "invalid_id", "id")

		// The laptop ends the phone's session: the phone is out, the
		// laptop is not, and the phone's session is gone from the list.
		b.must(204, "DELETE", fmt.Sprintf("/api/v1/sessions/%d", phoneID), laptop, nil)
		b.wantErr(b.do("GET", "/api/v1/me", phone, nil), 401, "unauthorized", "")
		b.must(200, "GET", "/api/v1/me", laptop, nil)
		if l := b.must(200, "GET", "/api/v1/sessions", laptop, nil).List; len(l) != 1 || int64(l[0].(map[string]any)["id"].(float64)) != laptopID {
			t.Errorf("after ending the phone's: %v", l)
		}
		b.wantErr(b.do("DELETE", fmt.Sprintf("/api/v1/sessions/%d", phoneID), laptop, nil), 404, "not_found", "")

		// Sign out everywhere but here.
		phone = login("pat@acme.test", "198.51.100.7:6000", "crmsync-ios/1.2")
		tablet := login("pat@acme.test", "198.51.100.8:6000", "tablet")
		r := b.must(200, "DELETE", "/api/v1/sessions?keep_current=true", laptop, nil)
		if r.Body["sessions_ended"] != float64(2) || r.Body["current_kept"] != true {
			t.Errorf("sign out everywhere but here: %s", r.Raw)
		}
		b.wantErr(b.do("GET", "/api/v1/me", phone, nil), 401, "unauthorized", "")
		b.wantErr(b.do("GET", "/api/v1/me", tablet, nil), 401, "unauthorized", "")
		b.must(200, "GET", "/api/v1/me", laptop, nil)
		b.wantErr(b.do("DELETE", "/api/v1/sessions?keep_current=maybe", laptop, nil), 400, "invalid_parameter", "keep_current")

		// Sign out everywhere: every session, this one too; the API token
		// and the other user stay.
		phone = login("pat@acme.test", "198.51.100.7:6000", "crmsync-ios/1.2")
		r = b.must(200, "DELETE", "/api/v1/sessions", laptop, nil)
		if r.Body["sessions_ended"] != float64(2) || r.Body["current_kept"] != false {
			t.Errorf("sign out everywhere: %s", r.Raw)
		}
		for _, tok := range []string{laptop, phone} {
			b.wantErr(b.do("GET", "/api/v1/me", tok, nil), 401, "unauthorized", "")
		}
		b.must(200, "GET", "/api/v1/me", patAPI, nil)
		b.must(200, "GET", "/api/v1/me", sam, nil)
		if l := b.must(200, "GET", "/api/v1/sessions", patAPI, nil).List; len(l) != 0 {
			t.Errorf("sessions after signing out everywhere: %v", l)
		}
		// From an API token, keep_current keeps nothing (it is no session).
		phone = login("pat@acme.test", "198.51.100.7:6000", "crmsync-ios/1.2")
		if r := b.must(200, "DELETE", "/api/v1/sessions?keep_current=true", patAPI, nil); r.Body["sessions_ended"] != float64(1) || r.Body["current_kept"] != false {
			t.Errorf("from an API token: %s", r.Raw)
		}
		b.wantErr(b.do("GET", "/api/v1/me", phone, nil), 401, "unauthorized", "")
		b.must(200, "GET", "/api/v1/me", patAPI, nil)
	})
}
