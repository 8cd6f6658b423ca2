package api_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// TestErrorEnvelope drives each class of client error and checks that the
// answer is our envelope with the right status, code and field.
func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{maxBodyBytes: 1024})
	ct := b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "X"}).ID()
	contact := "/api/v1/contacts/" + itoa(ct)

	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"malformed JSON", "POST", "/api/v1/companies", raw(`{"name": "x",}`), 400, "malformed_json", ""},
		{"truncated JSON", "POST", "/api/v1/companies", raw(`{"name": "x"`), 400, "malformed_json", ""},
		{"empty body", "POST", "/api/v1/companies", raw(``), 400, "malformed_json", ""},
		{"trailing data", "POST", "/api/v1/companies", raw(`{"name": "x"} {"name": "y"}`), 400, "malformed_json", ""},
		{"duplicate key", "POST", "/api/v1/companies", raw(`{"name": "x", "name": "y"}`), 400, "malformed_json", "name"},
		{"not an object", "POST", "/api/v1/companies", raw(`["x"]`), 400, "invalid_type", ""},
		{"unknown field", "POST", "/api/v1/companies", raw(`{"name": "x", "nmae": "y"}`), 400, "unknown_field", "nmae"},
		{"field in wrong case", "PATCH", contact, raw(`{"First_Name": "y"}`), 400, "unknown_field", "First_Name"},
		{"wrong type", "POST", "/api/v1/companies", raw(`{"name": 42}`), 400, "invalid_type", "name"},
		{"wrong type in PATCH", "PATCH", contact, raw(`{"owner_id": "me"}`), 400, "invalid_type", "owner_id"},
		{"wrong item type", "PATCH", contact, raw(`{"emails": ["a@b.com", 7]}`), 400, "invalid_type", "emails[1]"},
		{"wrong custom field type", "PATCH", contact, raw(`{"custom_fields": {"tier": 1}}`), 400, "invalid_type", "custom_fields.tier"},
		{"fractional id", "POST", "/api/v1/contacts", raw(`{"first_name": "x", "company_id": 1.5}`), 400, "invalid_type", "company_id"},
		{"oversize body", "POST", "/api/v1/companies", raw(`{"name": "` + strings.Repeat("x", 2000) + `"}`), 413, "body_too_large", ""},
		{"wrong content type", "POST", "/api/v1/companies", rawBody{`name=x`, "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"bad id", "GET", "/api/v1/contacts/abc", nil, 400, "invalid_id", "id"},
		{"zero id", "DELETE", "/api/v1/companies/0", nil, 400, "invalid_id", "id"},
		{"huge id", "GET", "/api/v1/opportunities/99999999999999999999", nil, 400, "invalid_id", "id"},
		{"bad token id", "DELETE", "/api/v1/users/1/tokens/-3", nil, 400, "invalid_id", "token_id"},
		{"unknown id", "GET", "/api/v1/contacts/987654", nil, 404, "not_found", ""},
		{"unknown route", "GET", "/api/v1/widgets", nil, 404, "not_found", ""},
		{"trailing slash", "GET", "/api/v1/contacts/", nil, 404, "not_found", ""},
		{"wrong method", "PUT", contact, raw(`{}`), 405, "method_not_allowed", ""},
		{"wrong method on a list", "DELETE", "/api/v1/companies", nil, 405, "method_not_allowed", ""},
		{"unknown query parameter", "GET", "/api/v1/contacts?lifecyle=lead", nil, 400, "invalid_parameter", "lifecyle"},
		{"bad filter value", "GET", "/api/v1/contacts?lifecycle=friend", nil, 400, "invalid_parameter", "lifecycle"},
		{"bad filter id", "GET", "/api/v1/opportunities?company_id=x", nil, 400, "invalid_parameter", "company_id"},
		{"bad filter email", "GET", "/api/v1/contacts?email=nope", nil, 400, "invalid_parameter", "email"},
		{"repeated parameter", "GET", "/api/v1/companies?limit=1&limit=2", nil, 400, "invalid_parameter", "limit"},
		{"bad limit", "GET", "/api/v1/users?limit=1000", nil, 400, "invalid_parameter", "limit"},
		{"bad cursor", "GET", "/api/v1/companies?cursor=djE6MA", nil, 400, "invalid_cursor", "cursor"},
		{"null on a non-nullable field", "PATCH", contact, map[string]any{"first_name": nil}, 422, "invalid_value", "first_name"},
		{"missing required field", "POST", "/api/v1/companies", map[string]any{"domains": []string{"x.com"}}, 422, "required", "name"},
		{"name too long", "POST", "/api/v1/companies", map[string]any{"name": strings.Repeat("x", 201)}, 422, "invalid_value", "name"},
		{"invalid decimal", "POST", "/api/v1/opportunities", map[string]any{"name": "x", "amount": 1e300}, 422, "invalid_value", "amount"},
	} {
		r := b.do(tc.method, tc.path, b.token, tc.body)
		code, field, msg := r.Err()
		if r.Status != tc.status || code != tc.code || field != tc.field || msg == "" {
			t.Errorf("%s: got %d %q field %q, want %d %q field %q\n%s", tc.name, r.Status, code, field, tc.status, tc.code, tc.field, r.Raw)
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, r.Header.Get("Content-Type"))
		}
	}

	r := b.do("PUT", contact, b.token, nil)
	if got := r.Header.Get("Allow"); got != "DELETE, GET, HEAD, PATCH" {
		t.Errorf("Allow = %q", got)
	}
	r = b.do("GET", "/api/v1/contacts", "", nil)
	b.wantErr(r, 401, "unauthorized", "")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	// A body without Content-Type is fine.
	b.must(201, "POST", "/api/v1/companies", b.token, rawBody{s: `{"name": "no content type"}`})
	b.must(201, "POST", "/api/v1/companies", b.token, rawBody{`{"name": "charset"}`, "application/json; charset=utf-8"})
}

// panicking makes one store method panic, as a bug in a handler would.
type panicking struct {
	store.Store
}

func (panicking) GetCompany(ctx context.Context, v crm.Viewer, id int64) (crm.Company, error) {
	panic("secret internal detail: index out of range")
}

func TestPanicIsA500(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{wrap: func(s store.Store) store.Store { return panicking{s} }})
	r := b.do("GET", "/api/v1/companies/1", b.token, nil)
	b.wantErr(r, 500, "internal", "")
	id := r.Header.Get("X-Request-Id")
	_, _, msg := r.Err()
	if strings.Contains(string(r.Raw), "secret") || !strings.Contains(msg, id) {
		t.Errorf("500 body = %s (request id %s)", r.Raw, id)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, "secret internal detail") || !strings.Contains(logs, id) || !strings.Contains(logs, "goroutine") {
		t.Errorf("the panic, its stack and the request id should be logged:\n%s", logs)
	}
	// The server goes on serving.
	b.must(200, "GET", "/api/v1/companies", b.token, nil)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.must(200, "GET", "/healthz", "", nil)
	if r.Str("status") != "ok" {
		t.Errorf("healthz: %s", r.Raw)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
