package api_test

import (
	"strings"
	"testing"
)

// TestHostileValues: the values an import cuts or drops are refused by the
// API with a 422 naming the field (never a 500).
func TestHostileValues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for email, field := range map[string]string{"not-an-email": "emails[0]", "a@b@c": "emails[0]", "user@[127.0.0.1]": "emails[0]",
		"a@1.2.3.4": "emails[0]", "a@[IPv6:::1]": "emails[0]", "x@127.1": "emails[0]"} {
		b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "X", "emails": []string{email}}), 422, "invalid_value", field)
	}
	b.wantErr(b.do("POST", "/api/v1/companies", b.token, map[string]any{"name": "IP", "domains": []string{"10.0.0.1"}}), 422, "invalid_value", "domains[0]")
	many := make([]string, 5000)
	for i := range many {
		many[i] = "x@a.example"
	}
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "X", "emails": many}), 422, "invalid_value", "emails")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "X", "categories": many}), 422, "invalid_value", "categories")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": strings.Repeat("N", 100000)}), 422, "invalid_value", "first_name")
	b.wantErr(b.do("POST", "/api/v1/tasks", b.token, map[string]any{"summary": "s", "description": strings.Repeat("d", 100001)}), 422, "invalid_value", "description")
	ev := func(extra map[string]any) map[string]any {
		m := map[string]any{"summary": "s", "start": "2026-01-01T09:00:00Z"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	b.wantErr(b.do("POST", "/api/v1/events", b.token, ev(map[string]any{"attendees": many})), 422, "invalid_value", "attendees")
	for _, rule := range []string{"FREQ=SECONDLY;COUNT=100000000", "FREQ=MINUTELY", "FREQ=DAILY;COUNT=100000000", "freq=secondly"} {
		b.wantErr(b.do("POST", "/api/v1/events", b.token, ev(map[string]any{"rrule": rule})), 422, "invalid_value", "rrule")
	}
	b.must(201, "POST", "/api/v1/events", b.token, ev(map[string]any{"rrule": "FREQ=HOURLY;COUNT=24"}))
	for _, start := range []string{"0000-01-01T09:00:00Z", "0000-01-01", "10000-01-01"} {
		b.wantErr(b.do("POST", "/api/v1/events", b.token, map[string]any{"summary": "s", "start": start}), 422, "invalid_value", "start")
	}
	b.wantErr(b.do("POST", "/api/v1/events", b.token, ev(map[string]any{"rrule": "FREQ=DAILY;UNTIL=00000101"})), 422, "invalid_value", "rrule")
	b.wantErr(b.do("POST", "/api/v1/tasks", b.token, map[string]any{"summary": "s", "due": "0000-01-01"}), 422, "invalid_value", "due")
	b.must(201, "POST", "/api/v1/events", b.token, map[string]any{"summary": "s", "start": "0001-01-01"})
}
