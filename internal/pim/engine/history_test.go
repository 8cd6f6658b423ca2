package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// passWith runs one pass under policy and returns the messages of the
// account's history it wrote, by kind.
func (e *env) passWith(policy pim.Policy) map[string][]string {
	e.T.Helper()
	msgs := map[string][]string{}
	_, err := e.Pass(policy, func(_ context.Context, kind, msg string) { msgs[kind] = append(msgs[kind], msg) })
	if err != nil {
		e.T.Fatalf("pass: %v", err)
	}
	return msgs
}

// history returns a contact's history, newest first.
func (e *env) history(id int64) []store.HistoryEntry {
	e.T.Helper()
	p, err := e.Store.RecordHistory(e.Ctx, e.Viewer, store.KindContact, id, store.ListParams{Limit: store.MaxLimit})
	if err != nil {
		e.T.Fatal(err)
	}
	return p.Items
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestImportHistory: a contact the sync brings in has a creation entry
// attributed to the sync account, not to a user.
func TestImportHistory(t *testing.T) {
	onBothStores(t, func(e *env) {
		e.remote.Put("bob.vcf", "bob-uid", card("Bob", "bob@other.example"))
		e.passWith(pim.NewestWins)
		bob := e.Contacts()["Bob"]
		h := e.history(bob.ID)
		if len(h) != 1 || h[0].Action != store.HistoryCreate || h[0].PIMAccountID == nil || *h[0].PIMAccountID != e.AccountID || h[0].UserID != nil {
			t.Fatalf("history of an imported contact: %+v; want one creation by account %d", h, e.AccountID)
		}
		// A change on the server, merged into the CRM: an update by the
		// account, with the old and the new value.
		e.remote.Edit(e.remoteByName()["Bob"].Href, func(f pim.Fields) { f[pim.FieldTitle] = pim.Str("Buyer") })
		e.passWith(pim.NewestWins)
		h = e.history(bob.ID)
		if len(h) != 2 || h[0].Action != store.HistoryUpdate || h[0].Field != "title" || h[0].Old != nil || str(h[0].New) != "Buyer" ||
			h[0].PIMAccountID == nil || *h[0].PIMAccountID != e.AccountID {
			t.Fatalf("history after a server change: %+v", h)
		}
	})
}

// TestConflictHistory: under every policy, the value a conflict lost can
// be found — in the record's history (kept and lost) and in the account's
// history (the record and both values).
func TestConflictHistory(t *testing.T) {
	for _, tc := range []struct {
		policy     pim.Policy
		kept, lost string
	}{
		{pim.ProviderWins, "Server title", "CRM title"},
		{pim.CRMWins, "CRM title", "Server title"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			onBothStores(t, func(e *env) {
				ann := e.CreateContact("Ann", "ann@acme.example")
				e.passWith(tc.policy) // Ann goes to the server
				href := e.remoteByName()["Ann"].Href

				// Both sides change the title.
				if _, err := e.Store.UpdateContact(e.Ctx, e.Viewer, ann.ID, func(c *crm.Contact) error { c.Title = "CRM title"; return nil }); err != nil {
					t.Fatal(err)
				}
				e.remote.Edit(href, func(f pim.Fields) { f[pim.FieldTitle] = pim.Str("Server title") })
				msgs := e.passWith(tc.policy)

				if got := e.Contacts()["Ann"].Title; got != tc.kept {
					t.Fatalf("title after the conflict %q, want %q", got, tc.kept)
				}
				if got := e.remoteByName()["Ann"].Fields[pim.FieldTitle].Str; got != tc.kept {
					t.Fatalf("server title after the conflict %q, want %q", got, tc.kept)
				}
				var conflict *store.HistoryEntry
				for _, h := range e.history(ann.ID) {
					if h.Action == store.HistoryConflict {
						h := h
						conflict = &h
					}
				}
				if conflict == nil {
					t.Fatalf("no conflict in the record's history: %+v", e.history(ann.ID))
				}
				if conflict.Field != pim.FieldTitle || str(conflict.New) != tc.kept || str(conflict.Old) != tc.lost ||
					!strings.Contains(conflict.Note, `kept "`+tc.kept+`"`) || !strings.Contains(conflict.Note, `lost "`+tc.lost+`"`) ||
					conflict.PIMAccountID == nil || *conflict.PIMAccountID != e.AccountID {
					t.Errorf("conflict entry %+v (note %q): want kept %q, lost %q, by account %d", conflict, conflict.Note, tc.kept, tc.lost, e.AccountID)
				}
				if len(msgs["conflict"]) != 1 {
					t.Fatalf("account history: %v, want one conflict event", msgs)
				}
				m := msgs["conflict"][0]
				for _, want := range []string{"contact", href, `"` + tc.kept + `"`, `"` + tc.lost + `"`} {
					if !strings.Contains(m, want) {
						t.Errorf("conflict event %q does not name %q", m, want)
					}
				}
			})
		})
	}
}
