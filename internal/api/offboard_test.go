package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// TestOffboarding offboards Ann, who owns one record of every kind, a
// report, a synchronised mailbox with messages and links, a forwarding
// mailbox, an address book, an API token and a session: refused without
// a successor, deactivated and reactivated, then deleted with Carl taking
// over. On both databases.
func TestOffboarding(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		p := setupPIM(t, bundleOpts{db: f})
		p.configure(func(c *api.Config) { c.DropboxDomain = "in.crm.test"; c.PIM = p.pim })
		ann, admin := p.ann, p.token
		user := func(id int64) string { return fmt.Sprintf("/api/v1/users/%d", id) }

		// What Ann holds.
		t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
		mailbox, _, msgs := p.inbox(mailFrom(1, "Hello", t0, "carol@client.test", "ann@acme.test"), mailFrom(2, "Order", t0, "buyer@globex.test", "ann@acme.test"))
		forward := p.mustCall(201, "POST", "/api/v1/mail-accounts", p.annToken, map[string]any{"email": "ann.fwd@acme.test", "mode": "forward"}).ID()
		book := p.connect(nil)
		if book.Status != 201 {
			t.Fatalf("address book: %d %s", book.Status, book.Raw)
		}
		records := map[string]int64{}
		for kind, body := range map[string]map[string]any{
			"companies":     {"name": "Globex"},
			"contacts":      {"first_name": "Carol", "emails": []string{"carol@client.test"}},
			"opportunities": {"name": "Deal"},
			"tasks":         {"summary": "Call Carol"},
			"events":        {"summary": "Lunch", "start": "2030-01-05T12:00:00Z"},
		} {
			records[kind] = p.mustCall(201, "POST", "/api/v1/"+kind, p.annToken, body).ID()
		}
		annView := crm.Viewer{OrgID: p.orgID, UserID: ann, Role: crm.RoleMember}
		if err := p.st.SetLink(p.ctx, annView, msgs[1].ID, crm.LinkCompany, records["companies"], true); err != nil {
			t.Fatal(err)
		}
		rep, repToken := p.user("rep@acme.test", "member", ann)
		carl, carlToken := p.user("carl@acme.test", "manager", 0)
		p.mustCall(200, "PATCH", user(ann), admin, map[string]any{"password": "correct horse battery"})
		login := func() *resp {
			return p.call("POST", "/api/v1/login", "", map[string]any{"email": "ann@acme.test", "password": "correct horse battery"})
		}
		session := login().Str("token")
		owners := func(want int64, when string) {
			t.Helper()
			for kind, id := range records {
				if got := num(p.mustCall(200, "GET", fmt.Sprintf("/api/v1/%s/%d", kind, id), admin, nil).Body["owner_id"]); got != want {
					t.Errorf("%s: %s %d is owned by %d, want %d", when, kind, id, got, want)
				}
			}
		}

		// Without a successor: refused, saying what she holds; nothing changes.
		r := p.call("DELETE", user(ann), admin, nil)
		p.wantErr(r, 409, "in_use", "reassign_to")
		_, _, msg := r.Err()
		for _, want := range []string{"1 company", "1 contact", "1 opportunity", "1 task", "1 event", "manages 1 person", "2 mailboxes", "reassign_to", "deactivate"} {
			if !strings.Contains(msg, want) {
				t.Errorf("in_use message %q does not say %q", msg, want)
			}
		}
		if strings.Contains(msg, "/") || strings.Contains(msg, "?") || strings.Contains(msg, "DELETE") {
			t.Errorf("in_use message names the API: %q", msg)
		}
		p.mustCall(200, "GET", "/api/v1/me", p.annToken, nil)
		p.mustCall(200, "GET", "/api/v1/me", session, nil)
		owners(ann, "refused")

		// Successors that cannot be; members cannot offboard.
		p.wantErr(p.call("DELETE", user(ann)+fmt.Sprintf("?reassign_to=%d", ann), admin, nil), 422, "same_user", "reassign_to")
		p.wantErr(p.call("DELETE", user(ann)+"?reassign_to=99999", admin, nil), 422, "not_found", "reassign_to")
		p.wantErr(p.call("DELETE", user(ann)+"?reassign_to=x", admin, nil), 400, "invalid_parameter", "reassign_to")
		p.wantErr(p.call("DELETE", user(ann)+"?reassign_to=-1", admin, nil), 400, "invalid_parameter", "reassign_to")
		p.wantErr(p.call("DELETE", user(ann), carlToken, nil), 403, "forbidden", "")
		p.wantErr(p.call("PATCH", user(ann), carlToken, map[string]any{"active": false}), 403, "forbidden", "")
		p.wantErr(p.call("PATCH", user(ann), admin, map[string]any{"active": false, "name": "X"}), 422, "invalid_value", "active")
		p.wantErr(p.call("PATCH", user(ann), admin, map[string]any{"reassign_to": carl}), 422, "invalid_value", "reassign_to")
		p.wantErr(p.call("PATCH", user(ann), admin, map[string]any{"active": true, "reassign_to": carl}), 422, "invalid_value", "reassign_to")
		p.wantErr(p.call("PATCH", user(p.admin), admin, map[string]any{"active": false}), 422, "invalid_value", "id")

		// Deactivated: cannot sign in, tokens dead, mailboxes disconnected
		// and retained, address book removed, records kept.
		r = p.mustCall(200, "PATCH", user(ann), admin, map[string]any{"active": false})
		off := obj(r.Body["offboarding"])
		if r.Body["active"] != false || r.Str("deactivated_at") != "2030-01-02T09:00:00Z" || num(off["mail_accounts_disconnected"]) != 2 ||
			num(off["pim_accounts_removed"]) != 1 || num(off["tokens_revoked"]) != 2 || off["retained_until"] != "2030-02-01T09:00:00Z" || off["deleted"] != false {
			t.Errorf("deactivated: %s", r.Raw)
		}
		p.wantErr(p.call("GET", "/api/v1/me", p.annToken, nil), 401, "unauthorized", "")
		p.wantErr(p.call("GET", "/api/v1/me", session, nil), 401, "unauthorized", "")
		p.wantErr(login(), 403, "forbidden", "")
		p.wantErr(p.call("POST", "/api/v1/login", "", map[string]any{"email": "ann@acme.test", "password": "wrong password!!"}), 401, "invalid_credentials", "")
		owners(ann, "deactivated")
		for _, id := range []int64{mailbox, forward} {
			if a := p.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), admin, nil); a.Str("state") != "disconnected" || a.Str("retained_until") != "2030-02-01T09:00:00Z" {
				t.Errorf("mailbox after deactivation: %s", a.Raw)
			}
		}
		p.wantErr(p.call("GET", pimPath(book.ID()), admin, nil), 404, "not_found", "")
		if u := p.mustCall(200, "GET", user(ann), admin, nil); u.Body["active"] != false {
			t.Errorf("user: %s", u.Raw)
		}
		// A deactivated user takes nothing over.
		p.wantErr(p.call("PATCH", user(rep), admin, map[string]any{"active": false, "reassign_to": ann}), 422, "inactive", "reassign_to")
		// Nor is anything given to her, as owner or as manager; what she
		// already holds stays editable.
		for _, r := range []*resp{
			p.call("POST", "/api/v1/contacts", admin, map[string]any{"first_name": "Zoe", "owner_id": ann}),
			p.call("PATCH", fmt.Sprintf("/api/v1/tasks/%d", p.mustCall(201, "POST", "/api/v1/tasks", admin, map[string]any{"summary": "Ring"}).ID()), admin, map[string]any{"owner_id": ann}),
		} {
			p.wantErr(r, 422, "inactive", "owner_id")
			if _, _, msg := r.Err(); !strings.Contains(msg, "is deactivated") {
				t.Errorf("refused owner: %q does not say she is deactivated", msg)
			}
		}
		p.wantErr(p.call("PATCH", user(carl), admin, map[string]any{"manager_id": ann}), 422, "inactive", "manager_id")
		p.mustCall(200, "PATCH", user(rep), admin, map[string]any{"name": "Rep"})
		p.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", records["contacts"]), admin, map[string]any{"title": "Buyer"})

		// Reactivated: she signs in again.
		if r := p.mustCall(200, "PATCH", user(ann), admin, map[string]any{"active": true}); r.Body["active"] != true || r.Body["deactivated_at"] != nil {
			t.Errorf("reactivated: %s", r.Raw)
		}
		session = login().Str("token")
		p.mustCall(200, "GET", "/api/v1/me", session, nil)

		// Deleted with Carl taking over: records, report, mailboxes with
		// their messages and links until the retention ends; her sign-ins end.
		r = p.mustCall(200, "DELETE", user(ann)+fmt.Sprintf("?reassign_to=%d", carl), admin, nil)
		moved := obj(r.Body["reassigned"])
		if r.Body["deleted"] != true || num(r.Body["reassigned_to"]) != carl || num(moved["companies"]) != 1 || num(moved["contacts"]) != 1 ||
			num(moved["opportunities"]) != 1 || num(moved["tasks"]) != 1 || num(moved["events"]) != 1 || num(moved["reports"]) != 1 ||
			num(moved["mail_accounts"]) != 2 || num(r.Body["tokens_revoked"]) != 1 {
			t.Errorf("deleted: %s", r.Raw)
		}
		p.wantErr(p.call("GET", user(ann), admin, nil), 404, "not_found", "")
		p.wantErr(p.call("GET", "/api/v1/me", session, nil), 401, "unauthorized", "")
		p.wantErr(login(), 401, "invalid_credentials", "")
		owners(carl, "deleted")
		// Each record's history says who handed it over, from whom to whom.
		for kind, id := range records {
			h := p.history(kind, id, carlToken, 50)
			p.entry(h[0], "update", "owner_id", fmt.Sprint(ann), fmt.Sprint(carl), p.admin)
			if note, _ := h[0]["note"].(string); !strings.Contains(note, "offboarding") {
				t.Errorf("%s %d: the owner change's note %q does not say why", kind, id, note)
			}
		}
		if h := p.history("contacts", records["contacts"], admin, 50); len(h) != 3 || h[1]["field"] != "title" || h[2]["action"] != "create" {
			t.Errorf("history of the reassigned contact: %v, want created, edited, handed over", h)
		}
		if r := p.mustCall(200, "GET", "/api/v1/me", repToken, nil); num(r.Body["manager_id"]) != carl {
			t.Errorf("report: %s", r.Raw)
		}
		for _, id := range []int64{mailbox, forward} {
			a := p.mustCall(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", id), carlToken, nil)
			if num(a.Body["user_id"]) != carl || a.Str("state") != "disconnected" || a.Str("retained_until") != "2030-02-01T09:00:00Z" {
				t.Errorf("mailbox after delete: %s", a.Raw)
			}
		}
		if got := p.links(carlToken, msgs[1].ID); len(got) != 1 || got[0] != fmt.Sprintf("company:%d:manual", records["companies"]) {
			t.Errorf("links of a retained message, read by Carl: %v", got)
		}
		p.mustCall(200, "GET", fmt.Sprintf("/api/v1/messages/%d", msgs[0].ID), carlToken, nil)

		// Someone who holds nothing is deleted without a successor.
		if r := p.mustCall(200, "DELETE", user(p.bob), admin, nil); r.Body["deleted"] != true {
			t.Errorf("deleted Bob: %s", r.Raw)
		}
	})
}

// TestDeactivateReassigns: deactivating with a successor moves the
// records and keeps the history with the deactivated user.
func TestDeactivateReassigns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		b := setup(t, bundleOpts{db: f})
		dan, danToken := b.user("dan@acme.test", "member", 0)
		eve, _ := b.user("eve@acme.test", "member", 0)
		ct := b.must(201, "POST", "/api/v1/contacts", danToken, map[string]any{"first_name": "Zed"}).ID()
		r := b.must(200, "PATCH", fmt.Sprintf("/api/v1/users/%d", dan), b.token, map[string]any{"active": false, "reassign_to": eve})
		if off := obj(r.Body["offboarding"]); num(obj(off["reassigned"])["contacts"]) != 1 || num(off["tokens_revoked"]) != 1 {
			t.Errorf("deactivated: %s", r.Raw)
		}
		if got := num(b.must(200, "GET", fmt.Sprintf("/api/v1/contacts/%d", ct), b.token, nil).Body["owner_id"]); got != eve {
			t.Errorf("contact owned by %d, want %d", got, eve)
		}
		h := b.history("contacts", ct, b.token, 50)
		if len(h) != 2 {
			t.Fatalf("history of the reassigned contact: %v", h)
		}
		b.entry(h[0], "update", "owner_id", fmt.Sprint(dan), fmt.Sprint(eve), b.admin)
		b.entry(h[1], "create", "", nil, nil, dan)
		b.wantErr(b.do("GET", "/api/v1/me", danToken, nil), 401, "unauthorized", "")
		// Deleting a deactivated user who holds nothing more.
		b.must(200, "DELETE", fmt.Sprintf("/api/v1/users/%d", dan), b.token, nil)
	})
}
