package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/store/storetest"
)

// onBothDatabases runs fn on a server over SQLite and one over PostgreSQL
// (skipped without CRMSYNC_TEST_POSTGRES).
func onBothDatabases(t *testing.T, fn func(t *testing.T, b *bundle)) {
	for name, f := range map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) { fn(t, setup(t, bundleOpts{db: f})) })
	}
}

// history reads a record's history as token, every page of limit entries.
func (b *bundle) history(path string, id int64, token string, limit int) []map[string]any {
	b.t.Helper()
	var out []map[string]any
	cursor := ""
	for {
		r := b.must(200, "GET", fmt.Sprintf("/api/v1/%s/%d/history?limit=%d%s", path, id, limit, cursor), token, nil)
		for _, e := range r.List {
			out = append(out, e.(map[string]any))
		}
		next := r.Str("next_cursor")
		if next == "" {
			return out
		}
		cursor = "&cursor=" + next
	}
}

// entry checks one history entry's action, field, values and author.
func (b *bundle) entry(e map[string]any, action, field string, old, new any, userID int64) {
	b.t.Helper()
	if e["action"] != action || (e["field"] != nil || field != "") && e["field"] != field || e["old"] != old || e["new"] != new {
		b.t.Errorf("entry %v, want %s %q %v → %v", e, action, field, old, new)
	}
	if got, _ := e["user_id"].(float64); int64(got) != userID || e["pim_account_id"] != nil {
		b.t.Errorf("entry %v: author, want user %d", e, userID)
	}
	if e["at"] == nil || e["id"] == nil {
		b.t.Errorf("entry %v without id or time", e)
	}
}

func TestRecordHistory(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, b *bundle) {
		ann, annTok := b.user("ann@acme.test", "member", 0)
		_, bobTok := b.user("bob@acme.test", "member", 0)

		// A contact edited twice: two entries with old and new, newest
		// first, after its creation.
		ct := b.must(201, "POST", "/api/v1/contacts", annTok, map[string]any{"first_name": "Alice", "emails": []string{"alice@client.test"}}).ID()
		b.must(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", ct), annTok, map[string]any{"title": "CEO", "custom_fields": map[string]string{"shoe": "42"}})
		b.must(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", ct), annTok, map[string]any{"title": "CTO", "emails": []string{"alice@new.test"}})
		h := b.history("contacts", ct, annTok, 1) // one at a time: the cursor works
		if len(h) != 5 {
			t.Fatalf("history of a contact created and edited twice: %d entries %v", len(h), h)
		}
		// (The fields of one change come in the reverse order of their
		// names, newest first.)
		b.entry(h[0], "update", "title", "CEO", "CTO", ann)
		b.entry(h[1], "update", "emails", `["alice@client.test"]`, `["alice@new.test"]`, ann)
		b.entry(h[2], "update", "title", nil, "CEO", ann)
		b.entry(h[3], "update", "custom_fields.shoe", nil, "42", ann)
		b.entry(h[4], "create", "", nil, nil, ann)
		if h[0]["record_type"] != "contact" || h[0]["record_id"] != float64(ct) {
			t.Errorf("entry names %v %v, want contact %d", h[0]["record_type"], h[0]["record_id"], ct)
		}
		// An update that changes nothing writes nothing.
		b.must(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", ct), annTok, map[string]any{"title": "CTO"})
		if n := len(b.history("contacts", ct, annTok, 50)); n != 5 {
			t.Errorf("an update that changed nothing left an entry: %d", n)
		}
		// Whoever may see the record may read it; another member may not.
		if n := len(b.history("contacts", ct, b.token, 50)); n != 5 {
			t.Errorf("the admin reads %d entries, want 5", n)
		}
		b.wantErr(b.do("GET", fmt.Sprintf("/api/v1/contacts/%d/history", ct), bobTok, nil), 404, "not_found", "")
		b.wantErr(b.do("GET", "/api/v1/contacts/999999/history", annTok, nil), 404, "not_found", "")

		// A long value is cut, with a marker.
		long := strings.Repeat("n", 5000)
		b.must(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", ct), annTok, map[string]any{"notes": long})
		got, _ := b.history("contacts", ct, annTok, 1)[0]["new"].(string)
		if !strings.HasPrefix(got, strings.Repeat("n", 4000)) || !strings.HasSuffix(got, "[cut: 1000 more characters]") {
			t.Errorf("a 5,000-character value is kept as %d characters ending %q", len(got), got[len(got)-40:])
		}

		// A deletion is an entry, with the record as it was; the history
		// stays readable by whoever could see the record, not by others.
		b.must(204, "DELETE", fmt.Sprintf("/api/v1/contacts/%d", ct), annTok, nil)
		h = b.history("contacts", ct, annTok, 50)
		if len(h) != 7 || h[0]["action"] != "delete" || !strings.Contains(h[0]["old"].(string), "alice@new.test") {
			t.Fatalf("history after the deletion: %v", h)
		}
		b.entry(h[0], "delete", "", h[0]["old"], nil, ann)
		b.wantErr(b.do("GET", fmt.Sprintf("/api/v1/contacts/%d/history", ct), bobTok, nil), 404, "not_found", "")
		if n := len(b.history("contacts", ct, b.token, 50)); n != 7 {
			t.Errorf("the admin reads %d entries of the deleted contact, want 7", n)
		}

		// Every other kind of record: created, changed, deleted.
		for _, k := range []struct {
			path         string
			create, edit map[string]any
			field        string
			old, new     any
		}{
			{"companies", map[string]any{"name": "Initech"}, map[string]any{"name": "Initrode"}, "name", "Initech", "Initrode"},
			{"opportunities", map[string]any{"name": "Deal"}, map[string]any{"status": "won"}, "status", "open", "won"},
			{"tasks", map[string]any{"summary": "Call"}, map[string]any{"summary": "Call back"}, "summary", "Call", "Call back"},
			{"events", map[string]any{"summary": "Demo", "start": "2030-01-07"}, map[string]any{"start": "2030-01-08"}, "start", "2030-01-07", "2030-01-08"},
		} {
			id := b.must(201, "POST", "/api/v1/"+k.path, annTok, k.create).ID()
			b.must(200, "PATCH", fmt.Sprintf("/api/v1/%s/%d", k.path, id), annTok, k.edit)
			b.wantErr(b.do("GET", fmt.Sprintf("/api/v1/%s/%d/history", k.path, id), bobTok, nil), 404, "not_found", "")
			b.must(204, "DELETE", fmt.Sprintf("/api/v1/%s/%d", k.path, id), annTok, nil)
			h := b.history(k.path, id, annTok, 50)
			if len(h) != 3 {
				t.Errorf("%s: %d entries %v, want delete, update, create", k.path, len(h), h)
				continue
			}
			b.entry(h[0], "delete", "", h[0]["old"], nil, ann)
			b.entry(h[1], "update", k.field, k.old, k.new, ann)
			b.entry(h[2], "create", "", nil, nil, ann)
		}
	})
}
