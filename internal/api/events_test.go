package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/api"
)

// The event routes' bodies, checked against openapi.json like the others.
func init() {
	requestTypes["POST /api/v1/events"] = api.EventCreationRequest{}
	requestTypes["PATCH /api/v1/events/{id}"] = api.EventUpdateRequest{}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann, annTok := b.user("ann@acme.test", "member", 0)
	_, bobTok := b.user("bob@acme.test", "member", 0)
	ct := b.must(201, "POST", "/api/v1/contacts", annTok, map[string]any{"first_name": "Alice"}).ID()

	// A single timed event.
	r := b.must(201, "POST", "/api/v1/events", annTok, map[string]any{"summary": "Demo for Alice", "location": " Room 2 ",
		"start": "2030-01-10T10:00:00[Europe/Paris]", "end": "2030-01-10T11:00:00[Europe/Paris]", "attendees": []string{"Alice@Client.test"},
		"contact_id": ct})
	demo := r.ID()
	if got := r.Header.Get("Location"); got != fmt.Sprintf("/api/v1/events/%d", demo) {
		t.Errorf("Location = %q", got)
	}
	if r.Str("location") != "Room 2" || r.Body["all_day"] != false || fmt.Sprint(r.Body["attendees"]) != "[alice@client.test]" ||
		num(r.Body["contact_id"]) != ct || num(r.Body["owner_id"]) != ann || fmt.Sprint(r.Body["categories"]) != "[]" {
		t.Errorf("created %s", r.Raw)
	}
	for _, k := range []string{"rrule", "exdates", "rdates", "overrides"} {
		if _, ok := r.Body[k]; ok {
			t.Errorf("%s in a single event: %s", k, r.Raw)
		}
	}

	// An all-day recurring event with its exceptions.
	r = b.must(201, "POST", "/api/v1/events", annTok, map[string]any{"summary": "Sprint review", "start": "2030-01-07", "end": "2030-01-08",
		"all_day": true, "rrule": "freq=weekly;byday=mo;until=20300331", "exdates": []string{"2030-01-14", "2030-01-14"}, "rdates": []string{"2030-01-16"},
		"overrides":  []map[string]any{{"recurrence_id": "2030-01-21", "summary": "Sprint review (long)", "end": "2030-01-23"}, {"recurrence_id": "2030-01-28", "cancelled": true}},
		"categories": []string{"Team"}})
	weekly := r.ID()
	ov, _ := r.Body["overrides"].([]any)
	if r.Body["all_day"] != true || r.Str("rrule") != "FREQ=WEEKLY;BYDAY=MO;UNTIL=20300331" || fmt.Sprint(r.Body["exdates"]) != "[2030-01-14]" ||
		fmt.Sprint(r.Body["rdates"]) != "[2030-01-16]" || len(ov) != 2 || obj(ov[1])["cancelled"] != true || obj(ov[0])["summary"] != "Sprint review (long)" {
		t.Errorf("created %s", r.Raw)
	}

	// Lists and their filters.
	if l := b.must(200, "GET", "/api/v1/events", annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{demo, weekly}) {
		t.Errorf("list %s", l.Raw)
	}
	if l := b.must(200, "GET", fmt.Sprintf("/api/v1/events?contact_id=%d", ct), annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{demo}) {
		t.Errorf("by contact: %s", l.Raw)
	}
	if l := b.must(200, "GET", "/api/v1/events?q=review", annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{weekly}) {
		t.Errorf("q: %s", l.Raw)
	}
	// In March only the weekly one has occurrences; after its UNTIL, none.
	if l := b.must(200, "GET", "/api/v1/events?from=2030-03-01T00:00:00Z&to=2030-03-08T00:00:00%2B01:00", annTok, nil); fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{weekly}) {
		t.Errorf("March: %s", l.Raw)
	}
	if l := b.must(200, "GET", "/api/v1/events?from=2030-05-01T00:00:00Z", annTok, nil); len(l.List) != 0 {
		t.Errorf("May: %s", l.Raw)
	}
	if l := b.must(200, "GET", fmt.Sprintf("/api/v1/events?owner_id=%d", ann), b.token, nil); len(l.List) != 2 {
		t.Errorf("admin: %s", l.Raw)
	}
	b.wantErr(b.do("GET", "/api/v1/events?from=2030-03-01", annTok, nil), 400, "invalid_parameter", "from")
	b.wantErr(b.do("GET", "/api/v1/events?to=soon", annTok, nil), 400, "invalid_parameter", "to")
	b.wantErr(b.do("GET", "/api/v1/events?from=2030-03-02T00:00:00Z&to=2030-03-01T00:00:00Z", annTok, nil), 400, "invalid_parameter", "to")
	b.wantErr(b.do("GET", "/api/v1/events?status=x", annTok, nil), 400, "invalid_parameter", "status")

	// Only the fields sent change; the result must hold together.
	p := fmt.Sprintf("/api/v1/events/%d", demo)
	r = b.must(200, "PATCH", p, annTok, map[string]any{"end": "2030-01-10T12:00:00[Europe/Paris]", "categories": []string{"Sales"}})
	if r.Str("end") != "2030-01-10T12:00:00[Europe/Paris]" || r.Str("summary") != "Demo for Alice" || r.Str("location") != "Room 2" ||
		fmt.Sprint(r.Body["categories"]) != "[Sales]" || num(r.Body["contact_id"]) != ct {
		t.Errorf("after end: %s", r.Raw)
	}
	b.wantErr(b.do("PATCH", p, annTok, map[string]any{"start": "2030-01-11"}), 422, "invalid_value", "end")
	b.wantErr(b.do("PATCH", p, annTok, map[string]any{"start": "2030-01-10T13:00:00Z"}), 422, "invalid_value", "end")
	b.wantErr(b.do("PATCH", p, annTok, map[string]any{"all_day": true}), 422, "invalid_value", "all_day")
	// Turning it into an all-day event takes start and end together.
	r = b.must(200, "PATCH", p, annTok, map[string]any{"start": "2030-01-10", "end": nil, "all_day": true})
	if r.Body["all_day"] != true || r.Str("end") != "" {
		t.Errorf("all-day: %s", r.Raw)
	}
	r = b.must(200, "PATCH", fmt.Sprintf("/api/v1/events/%d", weekly), annTok, map[string]any{"rrule": nil, "overrides": []any{}, "exdates": []string{}})
	if _, ok := r.Body["rrule"]; ok || r.Body["overrides"] != nil || r.Body["exdates"] != nil || fmt.Sprint(r.Body["rdates"]) != "[2030-01-16]" {
		t.Errorf("no longer recurring: %s", r.Raw)
	}

	// Bob, another member, sees none of it.
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"summary": "mine"}
		}
		b.wantErr(b.do(m, p, bobTok, body), 404, "not_found", "")
	}
	if l := b.must(200, "GET", "/api/v1/events", bobTok, nil); len(l.List) != 0 {
		t.Errorf("bob's list: %s", l.Raw)
	}
	b.wantErr(b.do("POST", "/api/v1/events", bobTok, map[string]any{"summary": "x", "start": "2030-01-01", "contact_id": ct}), 422, "not_found", "contact_id")

	b.must(204, "DELETE", p, annTok, nil)
	b.wantErr(b.do("GET", p, annTok, nil), 404, "not_found", "")
}

func TestEventValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	post := func(body map[string]any) *resp {
		t.Helper()
		full := map[string]any{"summary": "Meeting", "start": "2030-01-10T10:00:00Z"}
		for k, v := range body {
			if v == nil {
				delete(full, k)
			} else {
				full[k] = v
			}
		}
		return b.do("POST", "/api/v1/events", b.token, full)
	}
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{map[string]any{"summary": nil}, 422, "required", "summary"},
		{map[string]any{"start": nil}, 422, "required", "start"},
		{map[string]any{"start": "10 January"}, 422, "invalid_value", "start"},
		{map[string]any{"start": "2030-01-10T10:00:00.5Z"}, 422, "invalid_value", "start"},
		{map[string]any{"start": "2030-01-10T10:00:00+01:00"}, 422, "invalid_value", "start"},
		{map[string]any{"end": "2030-01-10T09:00:00Z"}, 422, "invalid_value", "end"},
		{map[string]any{"end": "2030-01-10T10:30:00[Nowhere/City]"}, 422, "invalid_value", "end"},
		{map[string]any{"end": "2030-01-11"}, 422, "invalid_value", "end"},
		{map[string]any{"start": "2030-01-10", "end": "2030-01-09"}, 422, "invalid_value", "end"},
		{map[string]any{"start": "2030-01-10", "end": "2030-01-11T00:00:00Z"}, 422, "invalid_value", "end"},
		{map[string]any{"all_day": true}, 422, "invalid_value", "all_day"},
		{map[string]any{"start": "2030-01-10", "all_day": false}, 422, "invalid_value", "all_day"},
		{map[string]any{"rrule": "RRULE:FREQ=DAILY"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "BYDAY=MO;FREQ=WEEKLY"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "FREQ=FORTNIGHTLY"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "FREQ=WEEKLY;BYWEEKDAY=MO"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "FREQ=WEEKLY;BYDAY=MO;BYDAY=TU"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "FREQ=WEEKLY;"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "FREQ=DAILY;COUNT=0"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "FREQ=DAILY;COUNT=3;UNTIL=20300201"}, 422, "invalid_value", "rrule"},
		{map[string]any{"rrule": "FREQ=DAILY;UNTIL=next-week"}, 422, "invalid_value", "rrule"},
		{map[string]any{"exdates": []string{"2030-01-11T10:00:00Z", "2030-01-12 10:00"}}, 422, "invalid_value", "exdates[1]"},
		{map[string]any{"rdates": []string{""}}, 422, "required", "rdates[0]"},
		{map[string]any{"overrides": []map[string]any{{"summary": "x"}}}, 422, "required", "overrides[0].recurrence_id"},
		{map[string]any{"overrides": []map[string]any{{"recurrence_id": "2030-01-11T10:00:00Z"}, {"recurrence_id": "2030-01-12T10:00:00Z", "start": "soon"}}}, 422, "invalid_value", "overrides[1].start"},
		{map[string]any{"overrides": []map[string]any{{"recurrence_id": "2030-01-11T10:00:00Z", "start": "2030-01-11T12:00:00Z", "end": "2030-01-11T11:00:00Z"}}}, 422, "invalid_value", "overrides[0].end"},
		{map[string]any{"overrides": []map[string]any{{"recurrence_id": "2030-01-11"}}}, 422, "invalid_value", "overrides[0].recurrence_id"},
		{map[string]any{"overrides": []map[string]any{{"recurrence_id": "2030-01-11T10:00:00Z"}, {"recurrence_id": "2030-01-11T10:00:00Z"}}}, 422, "invalid_value", "overrides[1].recurrence_id"},
		{map[string]any{"overrides": []map[string]any{{"recurrence_id": "2030-01-11T10:00:00Z", "sumary": "x"}}}, 400, "unknown_field", "overrides[0].sumary"},
		{map[string]any{"overrides": []map[string]any{{"recurrence_id": "2030-01-11T10:00:00Z", "cancelled": "yes"}}}, 400, "invalid_type", "overrides[0].cancelled"},
		{map[string]any{"overrides": "none"}, 400, "invalid_type", "overrides"},
		{map[string]any{"attendees": []string{"alice"}}, 422, "invalid_value", "attendees[0]"},
		{map[string]any{"categories": []string{" "}}, 422, "invalid_value", "categories[0]"},
		{map[string]any{"all_day": "no"}, 400, "invalid_type", "all_day"},
		{map[string]any{"allday": true}, 400, "unknown_field", "allday"},
	} {
		r := post(tc.body)
		b.wantErr(r, tc.status, tc.code, tc.field)
	}
	// Messages name the field and the forms accepted.
	r := post(map[string]any{"start": "10 January"})
	if _, _, msg := r.Err(); !strings.HasPrefix(msg, `start ("10 January") is not accepted: use "2026-11-21"`) {
		t.Errorf("start message %q", msg)
	}
	r = post(map[string]any{"rrule": "FREQ=WEEKLY;BYWEEKDAY=MO"})
	if _, _, msg := r.Err(); !strings.Contains(msg, "BYWEEKDAY") || !strings.Contains(msg, "BYDAY") {
		t.Errorf("rrule message %q", msg)
	}
	// Accepted forms.
	for _, start := range []string{"2030-01-10T10:00:00", "2030-01-10T10:00:00[America/New_York]"} {
		r := post(map[string]any{"start": start, "rrule": "FREQ=MONTHLY;INTERVAL=2;BYSETPOS=-1;BYDAY=FR;WKST=MO;COUNT=5"})
		if r.Status != 201 || r.Str("start") != start {
			t.Errorf("start %s: %d %s", start, r.Status, r.Raw)
		}
	}

	id := post(nil).ID()
	p := fmt.Sprintf("/api/v1/events/%d", id)
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"start": nil}), 422, "invalid_value", "start")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"start": ""}), 422, "required", "start")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"summary": nil}), 422, "invalid_value", "summary")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"exdates": nil}), 422, "invalid_value", "exdates")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"rrule": "WEEKLY"}), 422, "invalid_value", "rrule")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"overrides": []map[string]any{{"recurrence_id": "2030-01-11T10:00:00Z", "x": 1}}}), 400, "unknown_field", "overrides[0].x")
	// A change that breaks the rules changes nothing.
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"summary": "Renamed", "end": "2030-01-09T10:00:00Z"}), 422, "invalid_value", "end")
	if r := b.must(200, "GET", p, b.token, nil); r.Str("summary") != "Meeting" {
		t.Errorf("changed by a refused PATCH: %s", r.Raw)
	}
}
