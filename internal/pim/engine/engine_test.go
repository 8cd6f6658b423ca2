package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine/enginetest"
	"github.com/crmsync/crmsync/internal/pim/pimfake"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// env is a store with one user's CardDAV account on an in-memory address
// book, under the account's lease.
type env struct {
	*enginetest.Env
	remote *pimfake.Remote
}

// onBothStores runs fn on SQLite and on PostgreSQL (skipped without
// CRMSYNC_TEST_POSTGRES).
func onBothStores(t *testing.T, fn func(e *env)) {
	for name, f := range map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) { fn(newEnv(t, f)) })
	}
}

func newEnv(t *testing.T, f storetest.Factory) *env {
	const href = "/dav/admin/contacts/"
	r := pimfake.New(pim.Contacts, href, nil)
	return &env{Env: enginetest.New(t, f, href, r), remote: r}
}

// remoteByName returns the server's items by first name; two of one name
// fail the test.
func (e *env) remoteByName() map[string]pim.RemoteItem {
	e.T.Helper()
	out := map[string]pim.RemoteItem{}
	for _, it := range e.remote.Items() {
		n := it.Fields[pim.FieldFirstName].Str
		if _, dup := out[n]; dup {
			e.T.Fatalf("two remote items named %q", n)
		}
		out[n] = it
	}
	return out
}

func card(first, email string) pim.Fields {
	return pim.Fields{pim.FieldFirstName: pim.Str(first), pim.FieldLastName: pim.Str("Doe"), pim.FieldEmails: pim.ListOf(email)}
}

func (e *env) mappings() []store.PIMItem {
	e.T.Helper()
	items, err := e.Store.PIMItems(e.Ctx, e.CollID)
	if err != nil {
		e.T.Fatal(err)
	}
	return items
}

// TestFirstSync: new records go both ways, and a remote item with the
// address of a CRM contact is matched to it, not duplicated.
func TestFirstSync(t *testing.T) {
	onBothStores(t, func(e *env) {
		ann := e.CreateContact("Ann", "ann@acme.example")
		e.CreateContact("Dan", "dan@acme.example")
		e.remote.Put("bob.vcf", "bob-uid", card("Bob", "bob@other.example"))
		e.remote.Put("ann.vcf", "ann-uid", pim.Fields{pim.FieldFirstName: pim.Str("Ann"), pim.FieldLastName: pim.Str("Doe"),
			pim.FieldEmails: pim.ListOf("Ann@Acme.example"), pim.FieldTitle: pim.Str("CTO")})

		st := e.Sync()
		if st.CreatedCRM != 1 || st.CreatedRemote != 1 || st.Linked != 1 || st.Failed != 0 {
			t.Errorf("stats %+v: want 1 new in the CRM (Bob), 1 on the server (Dan), 1 matched (Ann)", st)
		}
		cs, rs := e.Contacts(), e.remoteByName()
		if len(cs) != 3 || len(rs) != 3 {
			t.Fatalf("CRM %d contacts, server %d items; want 3 each", len(cs), len(rs))
		}
		if cs["Ann"].ID != ann.ID || cs["Ann"].Title != "CTO" {
			t.Errorf("Ann in the CRM: %+v; want the same contact with the server's title", cs["Ann"])
		}
		if got := rs["Dan"].Fields[pim.FieldEmails].List; len(got) != 1 || got[0] != "dan@acme.example" {
			t.Errorf("Dan on the server: %v", rs["Dan"].Fields)
		}
		if id, ok := pim.ParseStamp(rs["Dan"].UID); !ok || !strings.HasPrefix(id, "contact-") {
			t.Errorf("Dan's UID %q is not the engine's stamp", rs["Dan"].UID)
		}
		for _, m := range e.Mappings() {
			if m.CRMID == 0 || m.Href == "" || m.Error != "" || m.RecordType != pim.RecordContact {
				t.Errorf("mapping %+v: want both sides, no error", m)
			}
		}
	})
}

// TestNoChangePass: a pass after a sync with nothing new writes nothing,
// on either side.
func TestNoChangePass(t *testing.T) {
	onBothStores(t, func(e *env) {
		e.CreateContact("Ann", "ann@acme.example")
		e.remote.Put("bob.vcf", "bob-uid", card("Bob", "bob@other.example"))
		e.Sync()
		writes, before := e.remote.Writes(), e.Contacts()

		res, err := e.TryPass()
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.Any() || res.Backlog != 0 || e.remote.Writes() != writes {
			t.Errorf("a pass with nothing new did %q (backlog %d), %d writes to the server", res.Stats, res.Backlog, e.remote.Writes()-writes)
		}
		for n, c := range e.Contacts() {
			if !c.UpdatedAt.Equal(before[n].UpdatedAt) {
				t.Errorf("%s was written in the CRM", n)
			}
		}
	})
}

// TestPreconditionRefetch: an item that changes on the server between the
// listing and the engine's update (412) is fetched again and merged: both
// changes end on both sides.
func TestPreconditionRefetch(t *testing.T) {
	onBothStores(t, func(e *env) {
		ann := e.CreateContact("Ann", "ann@acme.example")
		e.Sync()
		href := e.remoteByName()["Ann"].Href
		if _, err := e.Store.UpdateContact(e.Ctx, e.Viewer, ann.ID, func(c *crm.Contact) error { c.Title = "CEO"; return nil }); err != nil {
			t.Fatal(err)
		}
		e.remote.Race(href, func(f pim.Fields) { f[pim.FieldNotes] = pim.Str("met at the fair") })

		res, err := e.TryPass()
		if err != nil {
			t.Fatal(err)
		}
		got := e.remote.Items()[href].Fields
		if got[pim.FieldTitle].Str != "CEO" || got[pim.FieldNotes].Str != "met at the fair" {
			t.Errorf("server: %v; want the CRM's title and the phone's notes", got)
		}
		if c := e.Contacts()["Ann"]; c.Title != "CEO" || c.Notes != "met at the fair" {
			t.Errorf("CRM: title %q, notes %q", c.Title, c.Notes)
		}
		if res.Stats.ToRemote != 1 || res.Stats.Conflicts != 0 || res.Stats.Failed != 0 {
			t.Errorf("stats %+v", res.Stats)
		}
	})
}

// TestLostCreateReply: a create whose answer was lost fails the pass; the
// next pass finds the item by its stamp and links it, not a second copy.
func TestLostCreateReply(t *testing.T) {
	onBothStores(t, func(e *env) {
		// No address: the item is found by its stamp, not matched by email.
		ann := e.CreateContact("Ann", "")
		e.remote.LoseReply()
		_, err := e.TryPass()
		if connerr.KindOf(err) != connerr.Unreachable {
			t.Fatalf("pass with a lost reply: %v, want unreachable", err)
		}
		if n := len(e.remote.Items()); n != 1 {
			t.Fatalf("%d items on the server after the lost reply, want 1 (the write was made)", n)
		}

		st := e.Sync()
		rs := e.remoteByName()
		if len(rs) != 1 || len(e.Contacts()) != 1 || st.Linked != 1 || st.CreatedRemote != 0 || st.CreatedCRM != 0 {
			t.Fatalf("after the retry: %d items, %d contacts, stats %+v; want one of each, linked", len(rs), len(e.Contacts()), st)
		}
		ms := e.Mappings()
		if len(ms) != 1 || ms[0].CRMID != ann.ID || ms[0].Href != rs["Ann"].Href {
			t.Errorf("mappings %+v", ms)
		}
	})
}

// TestTokenReset: when the server forgets the sync token, the collection is
// listed whole and matched against the mappings: nothing is duplicated
// nor written again, and what is new comes in once.
func TestTokenReset(t *testing.T) {
	onBothStores(t, func(e *env) {
		e.CreateContact("Ann", "ann@acme.example")
		e.remote.Put("bob.vcf", "bob-uid", card("Bob", "bob@other.example"))
		e.Sync()
		writes := e.remote.Writes()
		e.remote.Put("cy.vcf", "cy-uid", card("Cy", "cy@other.example"))
		e.remote.ResetTokens()

		st := e.Sync()
		if len(e.Contacts()) != 3 || len(e.remoteByName()) != 3 {
			t.Fatalf("%d contacts, %d items; want 3 each", len(e.Contacts()), len(e.remoteByName()))
		}
		if st.CreatedCRM != 1 || st.Linked != 0 || st.CreatedRemote != 0 || st.Conflicts != 0 || st.Categories != 1 {
			t.Errorf("stats %+v: want Cy new in the CRM and given its categories, nothing else", st)
		}
		if e.remote.Writes() != writes+1 { // Cy's fixed categories
			t.Errorf("%d writes to the server after the reset, want 1", e.remote.Writes()-writes)
		}
		if len(e.Events) != 1 || e.Events[0] != "token_reset" {
			t.Errorf("history events %v, want one token_reset", e.Events)
		}
		if _, err := e.TryPass(); err != nil {
			t.Errorf("the pass after: %v (the new token must be kept)", err)
		}
	})
}

// TestThrottled: a throttled server fails the pass with connerr's kind and
// the provider's Retry-After, before anything is written; the next pass
// syncs.
func TestThrottled(t *testing.T) {
	onBothStores(t, func(e *env) {
		e.CreateContact("Ann", "ann@acme.example")
		e.remote.Throttle(1, 90*time.Second)
		_, err := e.TryPass()
		ce := connerr.As(err)
		if ce == nil || ce.Kind != connerr.Throttled || ce.RetryAfter != 90*time.Second {
			t.Fatalf("throttled pass: %v, want a connerr throttled error asking 90s", err)
		}
		if len(e.Mappings()) != 0 || e.remote.Writes() != 0 {
			t.Errorf("a throttled pass wrote")
		}
		if st := e.Sync(); st.CreatedRemote != 1 {
			t.Errorf("the next pass: %+v", st)
		}
	})
}

// TestBadItem: an item that cannot be decoded is reported on its mapping
// and skipped, the others sync, and it is not fetched again until it
// changes.
func TestBadItem(t *testing.T) {
	onBothStores(t, func(e *env) {
		e.remote.Put("ann.vcf", "ann-uid", card("Ann", "ann@acme.example"))
		bad := e.remote.PutBad("bad.vcf", "the vCard has no FN")
		e.remote.Put("bob.vcf", "bob-uid", card("Bob", "bob@other.example"))

		st := e.Sync()
		if st.Failed != 1 || st.CreatedCRM != 2 || len(e.Contacts()) != 2 {
			t.Fatalf("stats %+v, %d contacts; want 2 imported, 1 failed", st, len(e.Contacts()))
		}
		var found bool
		for _, m := range e.Mappings() {
			if m.Href == bad {
				found = true
				if m.CRMID != 0 || !strings.Contains(m.Error, "the vCard has no FN") {
					t.Errorf("the bad item's mapping: %+v", m)
				}
			}
		}
		if !found {
			t.Error("the bad item has no mapping")
		}
		if st := e.Sync(); st.Failed != 0 {
			t.Errorf("the bad item was tried again unchanged: %+v", st)
		}
	})
}

// TestRefusedCreate: a record the server refuses is reported, the others
// are written.
func TestRefusedCreate(t *testing.T) {
	onBothStores(t, func(e *env) {
		e.CreateContact("Ann", "ann@acme.example")
		e.CreateContact("Zed", "zed@acme.example")
		e.remote.Refuse(func(_ string, f pim.Fields) bool { return f[pim.FieldFirstName].Str == "Zed" })

		res, err := e.TryPass()
		if err != nil {
			t.Fatal(err)
		}
		if rs := e.remoteByName(); len(rs) != 1 || rs["Ann"].Href == "" {
			t.Errorf("server holds %v, want Ann only", rs)
		}
		if res.Stats.Failed != 1 || res.Stats.CreatedRemote != 1 {
			t.Errorf("stats %+v", res.Stats)
		}
		var refused int
		for _, m := range e.Mappings() {
			if m.Href == "" && strings.Contains(m.Error, "refused") {
				refused++
			}
		}
		if refused != 1 {
			t.Errorf("%d refused mappings, want 1: %+v", refused, e.Mappings())
		}
	})
}
