package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/pim/pimfake"
	"github.com/crmsync/crmsync/internal/store"
)

// The categories of the server's items, listed for the user to choose
// from after a real pass of the engine (over an in-memory server), and a
// name of import_categories that no item carries flagged on the account.
func TestPIMCategoriesListed(t *testing.T) {
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		p := setupPIM(t, o)
		id := p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": "https://dav.acme.test/",
			"username": "ann", "password": goodPassword, "options": map[string]any{"collection": "/dav/ann/contacts/",
				"import_categories": []string{"Clients", "Cleints"}}}).ID()
		path := pimPath(id, "/categories")

		// Before the first sync: nothing known, nothing flagged.
		r := p.mustCall(200, "GET", path, p.annToken, nil)
		if len(r.Body["categories"].([]any)) != 0 || r.Body["updated_at"] != nil {
			t.Errorf("before the first sync: %s", r.Raw)
		}
		if w := strs(p.mustCall(200, "GET", pimPath(id), p.annToken, nil).Body["warnings"]); len(w) != 0 {
			t.Errorf("warnings before the first sync: %v", w)
		}

		// A pass over the server's address book.
		remote := pimfake.New(pim.Contacts, "/dav/ann/contacts/", nil)
		card := func(name string, cats ...string) pim.Fields {
			return pim.Fields{pim.FieldFirstName: pim.Str(name), pim.FieldLastName: pim.Str("Doe"), pim.FieldCategories: pim.SetOf(cats...)}
		}
		remote.Put("a.vcf", "a", card("Ada", "Clients", "VIP"))
		remote.Put("b.vcf", "b", card("Bea", "Suppliers"))
		remote.Put("c.vcf", "c", card("Cy", " clients ", "suppliers"))
		remote.Put("d.vcf", "d", card("Di"))
		f := p.fence(id)
		a := p.pimAccount(id)
		ann := crm.Viewer{OrgID: p.orgID, UserID: p.ann, Role: crm.RoleMember}
		for pass := 0; pass < 3; pass++ { // until the fixed categories are written
			res, err := engine.SyncAccount(p.ctx, engine.Account{Port: engine.StorePort{Store: p.st, Fence: f, Viewer: ann}, AccountID: id,
				Options: a.Options, CategoryBudget: time.Minute,
				Targets: []engine.Target{{Collection: store.PIMCollection{Href: "/dav/ann/contacts/", Kind: pim.Contacts}, Remote: remote}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Backlog == 0 {
				break
			}
		}
		now := p.clock.Now()
		if err := p.st.RecordPIMStatus(p.ctx, f, id, store.AccountStatus{State: crm.StateSynced, LastSyncAt: &now}, true, nil); err != nil {
			t.Fatal(err)
		}

		r = p.mustCall(200, "GET", path, p.annToken, nil)
		got := map[string]string{}
		for _, c := range r.Body["categories"].([]any) {
			c := obj(c)
			got[c["name"].(string)] = fmt.Sprintf("%v %v %v", c["items"], c["fixed"], c["imported"])
		}
		// The two imported contacts carry their fixed categories now (new
		// contacts are leads); the others
		// were left out and are as the user has them.
		want := map[string]string{"Base Lead": "2 true false", "Base Person": "2 true false", "Clients": "2 false true", "Suppliers": "2 false false", "VIP": "1 false false"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("categories %v, want %v (%s)", got, want, r.Raw)
		}
		if r.Body["updated_at"] == nil {
			t.Errorf("no updated_at: %s", r.Raw)
		}

		// The misspelt name is flagged on the account, not refused.
		w := strs(p.mustCall(200, "GET", pimPath(id), p.annToken, nil).Body["warnings"])
		if len(w) != 1 || !strings.Contains(w[0], `"Cleints"`) || !strings.Contains(w[0], "spelling") {
			t.Errorf("warnings %v", w)
		}
		// Corrected: nothing to say.
		p.mustCall(200, "PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"import_categories": []string{"Clients", "VIP"}}})
		if w := strs(p.mustCall(200, "GET", pimPath(id), p.annToken, nil).Body["warnings"]); len(w) != 0 {
			t.Errorf("warnings after the correction: %v", w)
		}
		r = p.mustCall(200, "GET", path, p.annToken, nil)
		if !strings.Contains(string(r.Raw), `"name":"VIP","items":1,"fixed":false,"imported":true`) {
			t.Errorf("VIP not shown imported: %s", r.Raw)
		}

		// Whoever may see the account may see them; nobody else.
		p.mustCall(200, "GET", path, p.token, nil)
		p.wantErr(p.call("GET", path, p.bobToken, nil), 404, "not_found", "")
	})
}

// A calendar that does not accept tasks, chosen for them, is refused
// naming the option and the calendars that do.
func TestPIMTaskCollectionWithoutTasks(t *testing.T) {
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		p := setupPIM(t, o)
		id := p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "caldav", "url": "https://dav.acme.test/",
			"username": "ann", "password": goodPassword}).ID()
		// The collections as a sync lists them, for a change without the
		// password.
		f := p.fence(id)
		for _, c := range []store.PIMCollection{{Href: "/dav/ann/cal/", Kind: pim.Events}, {Href: "/dav/ann/cal/", Kind: pim.Tasks},
			{Href: "/dav/ann/meetings/", Kind: pim.Events}, {Href: "/dav/ann/todo/", Kind: pim.Tasks, DisplayName: "To do"}} {
			c.AccountID = id
			if _, err := p.st.PutPIMCollection(p.ctx, f, c); err != nil {
				t.Fatal(err)
			}
		}
		for _, body := range []map[string]any{
			{"password": goodPassword, "options": map[string]any{"task_collection": "/dav/ann/meetings/"}},
			{"options": map[string]any{"task_collection": "/dav/ann/meetings"}},
		} {
			r := p.call("PATCH", pimPath(id), p.annToken, body)
			p.wantErr(r, 422, "invalid_value", "options.task_collection")
			if _, _, msg := r.Err(); !strings.Contains(msg, "does not accept tasks") || !strings.Contains(msg, `"/dav/ann/todo/" (To do)`) {
				t.Errorf("message %q", msg)
			}
		}
		if got := p.pimAccount(id).Options.TaskCollection; got != "/dav/ann/cal/" {
			t.Errorf("task collection changed to %q", got)
		}
	})
}
