package api_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// langDo serves a GET with an Accept-Language header and returns the
// status, the error's code and message, and the Content-Language.
func (b *bundle) langDo(path, token, accept string) (status int, code, msg, lang string) {
	b.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept-Language", accept)
	}
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		b.t.Fatalf("GET %s: %v\n%s", path, err, rec.Body.Bytes())
	}
	return rec.Code, body.Error.Code, body.Error.Message, rec.Header().Get("Content-Language")
}

// The same error reads in the language the client asks for, from the
// catalogue; English, with its details, by default.
func TestErrorMessagesInTheCallersLanguage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct{ accept, lang, want string }{
		{"", "en", "No contact with this id exists, or you do not have access to it."},
		{"en-GB,en;q=0.9", "en", "No contact with this id exists, or you do not have access to it."},
		{"fr-FR,fr;q=0.9,en;q=0.5", "fr", "Cet enregistrement n'existe pas, ou vous n'y avez pas accès."},
		{"it", "it", "Questo record non esiste, oppure non hai accesso."},
		{"de", "en", "No contact with this id exists, or you do not have access to it."},
	} {
		status, code, msg, lang := b.langDo("/api/v1/contacts/987654", b.token, c.accept)
		if status != 404 || code != "not_found" || msg != c.want || lang != c.lang {
			t.Errorf("Accept-Language %q: %d %s %q (Content-Language %q), want 404 not_found %q (%s)", c.accept, status, code, msg, lang, c.want, c.lang)
		}
	}
	// Without a token: the same catalogue.
	if _, code, msg, lang := b.langDo("/api/v1/contacts", "", "fr"); code != "unauthorized" || lang != "fr" || !strings.Contains(msg, "jeton valide") {
		t.Errorf("unauthorized in French: %s %q (%s)", code, msg, lang)
	}
	if _, code, msg, lang := b.langDo("/api/v1/contacts", "", "it"); code != "unauthorized" || lang != "it" || !strings.Contains(msg, "token valido") {
		t.Errorf("unauthorized in Italian: %s %q (%s)", code, msg, lang)
	}
	if _, _, msg, lang := b.langDo("/api/v1/contacts", "", ""); lang != "en" || !strings.HasPrefix(msg, "This endpoint needs a token.") {
		t.Errorf("unauthorized by default: %q (%s)", msg, lang)
	}
	// A code whose message carries the request's details stays English.
	if _, code, msg, lang := b.langDo("/api/v1/contacts/abc", b.token, "fr"); code != "invalid_id" || lang != "en" || msg == "" {
		t.Errorf("invalid_id in French: %s %q (%s)", code, msg, lang)
	}
}

// Users choose their language through the API; their choice wins over
// Accept-Language, and only the languages crmsync speaks are accepted.
func TestUserLanguage(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		b := setup(t, o)
		id, tok := b.user("maria@acme.test", "member", 0)
		me := fmt.Sprintf("/api/v1/users/%d", id)
		r := b.must(200, "PATCH", me, tok, map[string]any{"language": "sv"})
		if got := r.Str("language"); got != "sv" {
			t.Fatalf("language after PATCH: %q\n%s", got, r.Raw)
		}
		if got := b.must(200, "GET", me, tok, nil).Str("language"); got != "sv" {
			t.Errorf("language read back: %q", got)
		}
		_, code, msg, lang := b.langDo("/api/v1/contacts/987654", tok, "fr")
		if code != "not_found" || lang != "sv" || msg != "Posten finns inte, eller så har du inte åtkomst till den." {
			t.Errorf("the user's choice (sv) over Accept-Language fr: %s %q (%s)", code, msg, lang)
		}

		b.wantErr(b.do("PATCH", me, tok, map[string]any{"language": "de"}), 422, "invalid_value", "language")
		if _, _, msg := b.do("PATCH", me, tok, map[string]any{"language": "de"}).Err(); !strings.Contains(msg, "language must be one of") {
			t.Errorf("the refusal does not name the field: %q", msg)
		}
		// A member changes only their own.
		b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/users/%d", b.admin), tok, map[string]any{"language": "it"}), 403, "forbidden", "")
		// Back to the client's language.
		if got := b.must(200, "PATCH", me, tok, map[string]any{"language": nil}).Str("language"); got != "" {
			t.Errorf("language after null: %q", got)
		}
		if _, _, _, lang := b.langDo("/api/v1/contacts/987654", tok, "it"); lang != "it" {
			t.Errorf("after clearing the choice, Accept-Language it gives %q", lang)
		}
	})
}
