package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/api"
)

// The task routes' bodies, checked against openapi.json like the others.
func init() {
	requestTypes["POST /api/v1/tasks"] = api.TaskCreationRequest{}
	requestTypes["PATCH /api/v1/tasks/{id}"] = api.TaskUpdateRequest{}
}

func TestTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann, annTok := b.user("ann@acme.test", "member", 0)
	_, bobTok := b.user("bob@acme.test", "member", 0)
	ct := b.must(201, "POST", "/api/v1/contacts", annTok, map[string]any{"first_name": "Alice"}).ID()

	// Defaults.
	r := b.must(201, "POST", "/api/v1/tasks", annTok, map[string]any{"summary": "  Call Alice  "})
	id := r.ID()
	if got := r.Header.Get("Location"); got != fmt.Sprintf("/api/v1/tasks/%d", id) {
		t.Errorf("Location = %q", got)
	}
	if r.Str("summary") != "Call Alice" || r.Str("status") != "needs_action" || num(r.Body["priority"]) != 0 || num(r.Body["owner_id"]) != ann ||
		fmt.Sprint(r.Body["categories"]) != "[]" || fmt.Sprint(r.Body["custom_fields"]) != "map[]" || r.Body["contact_id"] != nil {
		t.Errorf("created %s", r.Raw)
	}
	for _, k := range []string{"due", "completed_at"} {
		if _, ok := r.Body[k]; ok {
			t.Errorf("%s in %s", k, r.Raw)
		}
	}

	// Every field; a completed task gets its completion time.
	r = b.must(201, "POST", "/api/v1/tasks", annTok, map[string]any{"summary": "Send the quote", "description": "v2, with the discount",
		"due": "2030-01-10T17:00:00[Europe/Paris]", "status": "completed", "priority": 1, "categories": []string{" Sales ", "Q1"},
		"contact_id": ct, "custom_fields": map[string]any{"source": "api"}})
	done := r.ID()
	if r.Str("due") != "2030-01-10T17:00:00[Europe/Paris]" || r.Str("completed_at") != "2030-01-02T09:00:00Z" || num(r.Body["priority"]) != 1 ||
		fmt.Sprint(r.Body["categories"]) != "[Sales Q1]" || num(r.Body["contact_id"]) != ct || obj(r.Body["custom_fields"])["source"] != "api" {
		t.Errorf("created %s", r.Raw)
	}
	r = b.must(200, "GET", fmt.Sprintf("/api/v1/tasks/%d", done), annTok, nil)
	if r.Str("description") != "v2, with the discount" {
		t.Errorf("read %s", r.Raw)
	}

	// Lists and their filters.
	if l := b.must(200, "GET", "/api/v1/tasks", annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{id, done}) {
		t.Errorf("list %s", l.Raw)
	}
	if l := b.must(200, "GET", "/api/v1/tasks?status=completed", annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{done}) {
		t.Errorf("completed: %s", l.Raw)
	}
	if l := b.must(200, "GET", fmt.Sprintf("/api/v1/tasks?contact_id=%d", ct), annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{done}) {
		t.Errorf("by contact: %s", l.Raw)
	}
	if l := b.must(200, "GET", "/api/v1/tasks?q=call", annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{id}) {
		t.Errorf("q: %s", l.Raw)
	}
	if l := b.must(200, "GET", fmt.Sprintf("/api/v1/tasks?owner_id=%d&limit=1", ann), b.token, nil); len(l.List) != 1 || l.Body["next_cursor"] == nil {
		t.Errorf("admin's page: %s", l.Raw)
	}
	b.wantErr(b.do("GET", "/api/v1/tasks?status=done", annTok, nil), 400, "invalid_parameter", "status")
	b.wantErr(b.do("GET", "/api/v1/tasks?contact_id=x", annTok, nil), 400, "invalid_parameter", "contact_id")
	b.wantErr(b.do("GET", "/api/v1/tasks?due=2030-01-01", annTok, nil), 400, "invalid_parameter", "due")

	// Only the fields sent change.
	p := fmt.Sprintf("/api/v1/tasks/%d", done)
	r = b.must(200, "PATCH", p, annTok, map[string]any{"priority": 5})
	if num(r.Body["priority"]) != 5 || r.Str("summary") != "Send the quote" || r.Str("status") != "completed" || r.Str("completed_at") != "2030-01-02T09:00:00Z" ||
		num(r.Body["contact_id"]) != ct || fmt.Sprint(r.Body["categories"]) != "[Sales Q1]" {
		t.Errorf("after priority: %s", r.Raw)
	}
	// Reopening clears the completion; completing again sets it to now.
	r = b.must(200, "PATCH", p, annTok, map[string]any{"status": "in_process"})
	if _, ok := r.Body["completed_at"]; ok || r.Str("status") != "in_process" {
		t.Errorf("reopened: %s", r.Raw)
	}
	b.clock.Advance(3600e9)
	r = b.must(200, "PATCH", p, annTok, map[string]any{"status": "completed"})
	if r.Str("completed_at") != "2030-01-02T10:00:00Z" {
		t.Errorf("completed: %s", r.Raw)
	}
	r = b.must(200, "PATCH", p, annTok, map[string]any{"status": "completed", "completed_at": "2030-01-01"})
	if r.Str("completed_at") != "2030-01-01" {
		t.Errorf("completed at a given date: %s", r.Raw)
	}
	// Clearing.
	r = b.must(200, "PATCH", p, annTok, map[string]any{"due": nil, "contact_id": nil, "categories": []string{}, "custom_fields": map[string]any{"source": nil}})
	if _, ok := r.Body["due"]; ok || r.Body["contact_id"] != nil || fmt.Sprint(r.Body["categories"]) != "[]" || len(obj(r.Body["custom_fields"])) != 0 {
		t.Errorf("cleared: %s", r.Raw)
	}
	r = b.must(200, "PATCH", p, annTok, map[string]any{"due": "2030-02-01"})
	if r.Str("due") != "2030-02-01" {
		t.Errorf("due: %s", r.Raw)
	}

	// Bob, another member, sees none of it.
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"priority": 2}
		}
		b.wantErr(b.do(m, p, bobTok, body), 404, "not_found", "")
	}
	if l := b.must(200, "GET", "/api/v1/tasks", bobTok, nil); len(l.List) != 0 {
		t.Errorf("bob's list: %s", l.Raw)
	}
	// Nor may he tie his task to Ann's contact.
	b.wantErr(b.do("POST", "/api/v1/tasks", bobTok, map[string]any{"summary": "x", "contact_id": ct}), 422, "not_found", "contact_id")

	b.must(204, "DELETE", p, annTok, nil)
	b.wantErr(b.do("GET", p, annTok, nil), 404, "not_found", "")
}

func TestTaskValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	post := func(body map[string]any) *resp {
		t.Helper()
		return b.do("POST", "/api/v1/tasks", b.token, body)
	}
	b.wantErr(post(map[string]any{}), 422, "required", "summary")
	b.wantErr(post(map[string]any{"summary": "   "}), 422, "required", "summary")
	b.wantErr(post(map[string]any{"summary": strings.Repeat("x", 1001)}), 422, "invalid_value", "summary")
	r := post(map[string]any{"summary": "x", "due": "tomorrow"})
	b.wantErr(r, 422, "invalid_value", "due")
	if _, _, msg := r.Err(); !strings.Contains(msg, `"2026-11-21"`) {
		t.Errorf("due message %q", msg)
	}
	b.wantErr(post(map[string]any{"summary": "x", "due": "2030-01-10T17:00:00[Mars/Olympus]"}), 422, "invalid_value", "due")
	b.wantErr(post(map[string]any{"summary": "x", "due": "2030-01-10T17:00"}), 422, "invalid_value", "due")
	b.wantErr(post(map[string]any{"summary": "x", "completed_at": "2030-13-01"}), 422, "invalid_value", "completed_at")
	b.wantErr(post(map[string]any{"summary": "x", "status": "done"}), 422, "invalid_value", "status")
	b.wantErr(post(map[string]any{"summary": "x", "priority": 10}), 422, "invalid_value", "priority")
	b.wantErr(post(map[string]any{"summary": "x", "priority": -1}), 422, "invalid_value", "priority")
	b.wantErr(post(map[string]any{"summary": "x", "priority": "high"}), 400, "invalid_type", "priority")
	b.wantErr(post(map[string]any{"summary": "x", "categories": []string{"a", ""}}), 422, "invalid_value", "categories[1]")
	b.wantErr(post(map[string]any{"summary": "x", "categories": []string{"a,b"}}), 422, "invalid_value", "categories[0]")
	b.wantErr(post(map[string]any{"summary": "x", "contact_id": 0}), 422, "invalid_value", "contact_id")
	b.wantErr(post(map[string]any{"summary": "x", "owner_id": -2}), 422, "invalid_value", "owner_id")
	b.wantErr(post(map[string]any{"summary": "x", "custom_fields": map[string]any{"k": nil}}), 422, "invalid_value", "custom_fields.k")
	b.wantErr(post(map[string]any{"summary": "x", "sumary": "y"}), 400, "unknown_field", "sumary")

	id := post(map[string]any{"summary": "x"}).ID()
	p := fmt.Sprintf("/api/v1/tasks/%d", id)
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"summary": nil}), 422, "invalid_value", "summary")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"summary": ""}), 422, "required", "summary")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"status": nil}), 422, "invalid_value", "status")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"status": "doing"}), 422, "invalid_value", "status")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"priority": 12}), 422, "invalid_value", "priority")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"due": "2030-02-30"}), 422, "invalid_value", "due")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"contact_id": 424242}), 422, "not_found", "contact_id")
	b.wantErr(b.do("PATCH", "/api/v1/tasks/0", b.token, map[string]any{}), 400, "invalid_id", "id")
}
