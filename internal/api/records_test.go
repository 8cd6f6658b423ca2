package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
)

func TestCompanyLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)

	r := b.must(201, "POST", "/api/v1/companies", b.token, map[string]any{
		"name": "  Globex ", "domains": []string{"https://www.Globex.com/", "globex.com", "globex.io"},
	})
	id := r.ID()
	if got := r.Header.Get("Location"); got != fmt.Sprintf("/api/v1/companies/%d", id) {
		t.Errorf("Location = %q", got)
	}
	if r.Str("name") != "Globex" || fmt.Sprint(r.Body["domains"]) != "[globex.com globex.io]" || int64(r.Body["owner_id"].(float64)) != b.admin {
		t.Errorf("created %s", r.Raw)
	}

	r = b.must(200, "GET", fmt.Sprintf("/api/v1/companies/%d", id), b.token, nil)
	if r.Str("name") != "Globex" {
		t.Errorf("get: %s", r.Raw)
	}

	// PATCH changes only what is sent.
	r = b.must(200, "PATCH", fmt.Sprintf("/api/v1/companies/%d", id), b.token, map[string]any{"name": "Globex Corp"})
	if r.Str("name") != "Globex Corp" || fmt.Sprint(r.Body["domains"]) != "[globex.com globex.io]" {
		t.Errorf("patch name: %s", r.Raw)
	}
	r = b.must(200, "PATCH", fmt.Sprintf("/api/v1/companies/%d", id), b.token, map[string]any{"domains": []string{}})
	if r.Str("name") != "Globex Corp" || fmt.Sprint(r.Body["domains"]) != "[]" {
		t.Errorf("patch domains: %s", r.Raw)
	}
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/companies/%d", id), b.token, map[string]any{"name": nil}), 422, "invalid_value", "name")
	b.wantErr(b.do("PATCH", fmt.Sprintf("/api/v1/companies/%d", id), b.token, map[string]any{"domains": []string{"ok.com", "not a domain"}}), 422, "invalid_value", "domains[1]")

	b.must(201, "POST", "/api/v1/companies", b.token, map[string]any{"name": "Initech", "domains": []string{"initech.com"}})
	l := b.must(200, "GET", "/api/v1/companies?domain=INITECH.com", b.token, nil)
	if len(l.List) != 1 || l.List[0].(map[string]any)["name"] != "Initech" {
		t.Errorf("filter by domain: %s", l.Raw)
	}
	if _, ok := l.Body["next_cursor"]; ok {
		t.Errorf("next_cursor on the last page: %s", l.Raw)
	}
	l = b.must(200, "GET", "/api/v1/companies?q=globex", b.token, nil)
	if len(l.List) != 1 {
		t.Errorf("q: %s", l.Raw)
	}
	l = b.must(200, "GET", "/api/v1/companies?q=nothing-matches", b.token, nil)
	if string(l.Raw) != "{\"data\":[]}\n" {
		t.Errorf("empty list = %s, want {\"data\":[]}", l.Raw)
	}

	b.must(204, "DELETE", fmt.Sprintf("/api/v1/companies/%d", id), b.token, nil)
	b.wantErr(b.do("GET", fmt.Sprintf("/api/v1/companies/%d", id), b.token, nil), 404, "not_found", "")
	b.wantErr(b.do("DELETE", fmt.Sprintf("/api/v1/companies/%d", id), b.token, nil), 404, "not_found", "")
}

func TestContactLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	co := b.must(201, "POST", "/api/v1/companies", b.token, map[string]any{"name": "Globex"}).ID()

	r := b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{
		"first_name": "Hank", "last_name": "Scorpio",
		"emails":        []string{"Hank@Globex.com", "hank@globex.com", "h@scorpio.io"},
		"phones":        []string{"+1 555 0100"},
		"company_id":    co,
		"custom_fields": map[string]any{"volcano": "yes", "hammock": "district"},
	})
	id := r.ID()
	if fmt.Sprint(r.Body["emails"]) != "[hank@globex.com h@scorpio.io]" || r.Str("lifecycle") != "lead" || int64(r.Body["owner_id"].(float64)) != b.admin {
		t.Errorf("created %s", r.Raw)
	}
	path := fmt.Sprintf("/api/v1/contacts/%d", id)

	// custom_fields merge (RFC 7396): set one, remove one, keep the rest.
	r = b.must(200, "PATCH", path, b.token, map[string]any{
		"lifecycle": "customer", "custom_fields": map[string]any{"hammock": nil, "boss": "Homer"},
	})
	if fmt.Sprint(r.Body["custom_fields"]) != "map[boss:Homer volcano:yes]" || r.Str("lifecycle") != "customer" || r.Str("first_name") != "Hank" {
		t.Errorf("patch: %s", r.Raw)
	}
	// company_id: null clears it; absent leaves it.
	r = b.must(200, "PATCH", path, b.token, map[string]any{"company_id": nil})
	if r.Body["company_id"] != nil {
		t.Errorf("company_id not cleared: %s", r.Raw)
	}
	r = b.must(200, "PATCH", path, b.token, map[string]any{"custom_fields": nil})
	if fmt.Sprint(r.Body["custom_fields"]) != "map[]" {
		t.Errorf("custom_fields: null should clear them: %s", r.Raw)
	}

	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"first_name": nil}), 422, "invalid_value", "first_name")
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"lifecycle": "friend"}), 422, "invalid_value", "lifecycle")
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"emails": []string{"a@b.com", "nope"}}), 422, "invalid_value", "emails[1]")
	// Removing every way to identify the contact is refused.
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"first_name": "", "last_name": "", "emails": []string{}}), 422, "required", "first_name")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"phones": []string{"1"}}), 422, "required", "first_name")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "X", "company_id": 99999}), 422, "not_found", "company_id")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "X", "custom_fields": map[string]any{"a": nil}}), 422, "invalid_value", "custom_fields.a")

	b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "Marge", "emails": []string{"marge@example.com"}, "lifecycle": "prospect", "company_id": co})
	for q, want := range map[string]int{
		"email=MARGE@example.com": 1, "lifecycle=prospect": 1, "lifecycle=customer": 1, "lifecycle=lost": 0,
		fmt.Sprintf("company_id=%d", co): 1, fmt.Sprintf("owner_id=%d", b.admin): 2, "q=scorpio": 1,
	} {
		if l := b.must(200, "GET", "/api/v1/contacts?"+q, b.token, nil); len(l.List) != want {
			t.Errorf("?%s: %d contacts, want %d: %s", q, len(l.List), want, l.Raw)
		}
	}

	b.must(204, "DELETE", path, b.token, nil)
	b.wantErr(b.do("GET", path, b.token, nil), 404, "not_found", "")
}

func TestOpportunityLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	co := b.must(201, "POST", "/api/v1/companies", b.token, map[string]any{"name": "Globex"}).ID()
	c1 := b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "A"}).ID()
	c2 := b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "B"}).ID()

	r := b.must(201, "POST", "/api/v1/opportunities", b.token, map[string]any{
		"name": "Doomsday device", "company_id": co, "contact_ids": []int64{c1, c2, c1}, "amount": "12500.50", "currency": "eur",
	})
	id := r.ID()
	if r.Str("status") != "open" || fmt.Sprint(r.Body["contact_ids"]) != fmt.Sprint([]any{float64(c1), float64(c2)}) ||
		r.Body["amount"] != 12500.5 || r.Str("currency") != "EUR" {
		t.Errorf("created %s", r.Raw)
	}
	path := fmt.Sprintf("/api/v1/opportunities/%d", id)
	r = b.must(200, "PATCH", path, b.token, map[string]any{"status": "won", "amount": 13000})
	if r.Str("status") != "won" || r.Body["amount"] != 13000.0 || r.Str("name") != "Doomsday device" {
		t.Errorf("patch: %s", r.Raw)
	}
	r = b.must(200, "PATCH", path, b.token, map[string]any{"amount": nil, "contact_ids": []int64{}})
	if r.Body["amount"] != nil || fmt.Sprint(r.Body["contact_ids"]) != "[]" {
		t.Errorf("clear amount/contacts: %s", r.Raw)
	}
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"amount": "12,5"}), 422, "invalid_value", "amount")
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"amount": true}), 422, "invalid_value", "amount")
	b.wantErr(b.do("POST", "/api/v1/opportunities", b.token, map[string]any{"name": "x", "amount": "lots"}), 422, "invalid_value", "amount")
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"currency": "euro"}), 422, "invalid_value", "currency")
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"status": "maybe"}), 422, "invalid_value", "status")
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"contact_ids": []int64{c1, 0}}), 422, "invalid_value", "contact_ids[1]")
	b.wantErr(b.do("POST", "/api/v1/opportunities", b.token, map[string]any{"amount": 1}), 422, "required", "name")

	b.must(201, "POST", "/api/v1/opportunities", b.token, map[string]any{"name": "Hammock", "contact_ids": []int64{c2}})
	for q, want := range map[string]int{
		"status=open": 1, "status=won": 1, fmt.Sprintf("contact_id=%d", c2): 1, fmt.Sprintf("company_id=%d", co): 1, "q=hammock": 1,
	} {
		if l := b.must(200, "GET", "/api/v1/opportunities?"+q, b.token, nil); len(l.List) != want {
			t.Errorf("?%s: %d, want %d: %s", q, len(l.List), want, l.Raw)
		}
	}
	b.must(204, "DELETE", path, b.token, nil)
	b.wantErr(b.do("PATCH", path, b.token, map[string]any{"name": "x"}), 404, "not_found", "")
}

// TestPagination walks a list three pages long while records are added
// and removed, and checks that every record present throughout is seen
// exactly once, in id order.
func TestPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var all []int64
	for i := range 7 {
		all = append(all, b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": fmt.Sprint("P", i)}).ID())
	}
	var seen []int64
	cursor := ""
	pages := 0
	for {
		u := "/api/v1/contacts?limit=3"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		r := b.must(200, "GET", u, b.token, nil)
		pages++
		seen = append(seen, ids(r.List)...)
		if pages == 1 {
			// Churn between pages: delete a record already seen, add one.
			b.must(204, "DELETE", fmt.Sprintf("/api/v1/contacts/%d", all[0]), b.token, nil)
			all = append(all, b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "late"}).ID())
		}
		next, ok := r.Body["next_cursor"].(string)
		if !ok {
			break
		}
		if len(r.List) != 3 {
			t.Fatalf("page %d has %d items and a next cursor", pages, len(r.List))
		}
		cursor = next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	if !slices.Equal(seen, all) {
		t.Errorf("walked %v, want %v", seen, all)
	}
	b.wantErr(b.do("GET", "/api/v1/contacts?cursor=bogus", b.token, nil), 400, "invalid_cursor", "cursor")
	for _, l := range []string{"0", "501", "x", "-1", "2.5"} {
		b.wantErr(b.do("GET", "/api/v1/contacts?limit="+l, b.token, nil), 400, "invalid_parameter", "limit")
	}
}
