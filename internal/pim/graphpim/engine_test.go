package graphpim_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/pim/engine/enginetest"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// env is one user's Outlook contacts folder, on the fake over HTTP, synced
// by the engine with a store (SQLite).
type env struct {
	*enginetest.Env
	g      *graphfake.Graph
	cnt    *counter // requests sent
	Remote pim.Remote
	// Policy is the passes' conflict policy (newEnv: NewestWins).
	Policy pim.Policy
	// Events are the kinds of the history events TryPass recorded.
	Events []string
}

func newEnv(t *testing.T) *env {
	t.Parallel() // each on its own store and fake
	return newEnvTB(t)
}

func newEnvTB(tb testing.TB) *env {
	g := graphfake.NewGraph()
	c, cnt := open(tb, g)
	folder := g.DefaultContactFolder()
	e := enginetest.New(tb, storetest.SQLite, crm.PIMMicrosoft, store.PIMCollection{Href: folder, Kind: pim.Contacts, DisplayName: "Contacts"})
	return &env{Env: e, g: g, cnt: cnt, Remote: graphpim.NewContacts(c, folder), Policy: pim.NewestWins}
}

// TryPass runs one pass under e.Policy, recording its events' kinds in
// e.Events.
func (e *env) TryPass() (engine.Result, error) {
	e.T.Helper()
	return e.Pass(engine.Config{Remote: e.Remote, Policy: e.Policy,
		Event: func(_ context.Context, kind, _ string) { e.Events = append(e.Events, kind) }})
}

// Sync runs passes until no backlog is left, and returns what they did.
func (e *env) Sync() engine.Stats {
	e.T.Helper()
	return enginetest.Sync(e.T, e.TryPass)
}

// outlook returns the folder's contacts by givenName; two of one name fail
// the test.
func (e *env) outlook() map[string]graphfake.ContactState {
	e.T.Helper()
	out := map[string]graphfake.ContactState{}
	for _, id := range e.g.ContactIDs("") {
		c, _ := e.g.Contact(id)
		n, _ := c.Props["givenName"].(string)
		if _, dup := out[n]; dup {
			e.T.Fatalf("two Outlook contacts named %q", n)
		}
		out[n] = c
	}
	return out
}

func (e *env) outlookID(name string) string {
	e.T.Helper()
	for _, id := range e.g.ContactIDs("") {
		if c, _ := e.g.Contact(id); c.Props["givenName"] == name {
			return id
		}
	}
	e.T.Fatalf("no Outlook contact %q", name)
	return ""
}

func categoriesOf(c graphfake.ContactState) []string {
	var out []string
	l, _ := c.Props["categories"].([]any)
	for _, x := range l {
		out = append(out, x.(string))
	}
	return out
}

// TestEngineFirstSync: Outlook's contacts come into the CRM, the CRM's go
// to Outlook stamped and with their fixed categories (which the master
// list gets), a shared address links instead of duplicating; a second pass
// writes nothing.
func TestEngineFirstSync(t *testing.T) {
	e := newEnv(t)
	ann := e.CreateContact("Ann", "ann@acme.example")
	e.CreateContact("Dan", "dan@acme.example")
	e.g.AddContact("", map[string]any{"givenName": "Bob", "surname": "Roe", "emailAddresses": []map[string]string{{"address": "bob@other.example"}},
		"mobilePhone": "+33 6 12 34 56 78", "jobTitle": "Buyer", "birthday": "1980-01-01T00:00:00Z"})
	e.g.AddContact("", map[string]any{"givenName": "Ann", "surname": "Doe", "emailAddresses": []map[string]string{{"address": "Ann@Acme.example"}},
		"jobTitle": "CTO"})

	st := e.Sync()
	if st.CreatedCRM != 1 || st.CreatedRemote != 1 || st.Linked != 1 || st.Failed != 0 {
		t.Errorf("stats %+v: want Bob in the CRM, Dan in Outlook, Ann linked", st)
	}
	cs, os := e.Contacts(), e.outlook()
	if len(cs) != 3 || len(os) != 3 {
		t.Fatalf("CRM %d, Outlook %d; want 3 each", len(cs), len(os))
	}
	if cs["Ann"].ID != ann.ID || cs["Ann"].Title != "CTO" || cs["Bob"].Phones[0] != "+33612345678" || cs["Bob"].Title != "Buyer" {
		t.Errorf("CRM: Ann %+v, Bob %+v", cs["Ann"], cs["Bob"])
	}
	dan := os["Dan"]
	if id, ok := pim.ParseStamp(dan.Extended[graphpim.StampProperty]); !ok || !strings.HasPrefix(id, "contact-") {
		t.Errorf("Dan's stamp %q", dan.Extended[graphpim.StampProperty])
	}
	if cats := categoriesOf(dan); len(cats) != 2 || cats[0] != pim.CategoryLead || cats[1] != pim.CategoryPerson {
		t.Errorf("Dan's categories %v", cats)
	}
	if cats := categoriesOf(os["Bob"]); len(cats) == 0 || os["Bob"].Props["birthday"] != "1980-01-01T00:00:00Z" {
		t.Errorf("Bob in Outlook: categories %v, birthday %v (kept)", cats, os["Bob"].Props["birthday"])
	}
	if n := len(e.g.Categories()); n != len(pim.FixedCategories) {
		t.Errorf("%d master categories", n)
	}
	before := e.g.Stats().Requests
	res, err := e.TryPass()
	if err != nil || res.Stats.Any() {
		t.Errorf("second pass: %v, %v", res.Stats, err)
	}
	// The categories' list, one round of changes (the engine's own
	// writes, whose etags it has), nothing fetched, nothing written.
	if n := e.g.Stats().Requests - before; n != 2 {
		t.Errorf("second pass sent %d requests, want 2", n)
	}
}

// TestEnginePolicies: a field changed on both sides goes the policy's way;
// a field changed on one side goes that way under every policy.
func TestEnginePolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy      pim.Policy
		crmFirst    bool   // the CRM's change is the older one
		title       string // the title both sides end with
		replacedCRM bool   // the losing value is kept in a custom field
	}{
		{pim.NewestWins, true, "Outlook title", true},
		{pim.NewestWins, false, "CRM title", false},
		{pim.CRMWins, false, "CRM title", false},
		{pim.CRMWins, true, "CRM title", false},
		{pim.ProviderWins, false, "Outlook title", false},
	} {
		t.Run(fmt.Sprintf("%s/crmFirst=%v", tc.policy, tc.crmFirst), func(t *testing.T) {
			e := newEnv(t)
			e.Policy = tc.policy
			ann := e.CreateContact("Ann", "ann@acme.example")
			e.Sync()
			id := e.outlookID("Ann")
			crmEdit := func() {
				e.UpdateContact(ann.ID, func(c *crm.Contact) { c.Title = "CRM title"; c.Notes = "from the CRM" })
			}
			outlookEdit := func() {
				e.g.UpdateContact(id, map[string]any{"jobTitle": "Outlook title", "companyName": "Outlook Inc"})
			}
			if tc.crmFirst {
				crmEdit()
				time.Sleep(1100 * time.Millisecond) // Graph dates to the second
				outlookEdit()
			} else {
				outlookEdit()
				time.Sleep(1100 * time.Millisecond)
				crmEdit()
			}
			st := e.Sync()
			if st.Conflicts != 1 {
				t.Errorf("stats %+v, want one conflict", st)
			}
			c := e.Contacts()["Ann"]
			o, _ := e.g.Contact(id)
			if c.Title != tc.title || o.Props["jobTitle"] != tc.title {
				t.Errorf("title: CRM %q, Outlook %v; want %q", c.Title, o.Props["jobTitle"], tc.title)
			}
			if c.Notes != "from the CRM" || o.Props["personalNotes"] != "from the CRM" {
				t.Errorf("notes (CRM only): CRM %q, Outlook %v", c.Notes, o.Props["personalNotes"])
			}
			if o.Props["companyName"] != "Outlook Inc" {
				t.Errorf("company (Outlook only): Outlook %v", o.Props["companyName"])
			}
			var replaced bool
			for k, v := range c.CustomFields {
				replaced = replaced || strings.HasPrefix(k, "replaced_title") && v == "CRM title"
			}
			if replaced != tc.replacedCRM {
				t.Errorf("CRM custom fields %v", c.CustomFields)
			}
			if res, err := e.TryPass(); err != nil || res.Stats.Any() {
				t.Errorf("the pass after: %v, %v (an echo)", res.Stats, err)
			}
		})
	}
}

// TestEngineDeletesAndTokenReset: a contact deleted in Outlook is a
// tombstone (the CRM keeps its record, Outlook does not get it back); a
// forgotten delta token relists the folder without duplicates.
func TestEngineDeletesAndTokenReset(t *testing.T) {
	e := newEnv(t)
	e.CreateContact("Ann", "ann@acme.example")
	e.CreateContact("Dan", "dan@acme.example")
	e.g.AddContact("", map[string]any{"givenName": "Bob", "emailAddresses": []map[string]string{{"address": "bob@other.example"}}})
	e.Sync()
	e.g.DeleteContact(e.outlookID("Dan"))
	if st := e.Sync(); st.Tombstoned != 1 {
		t.Errorf("stats %+v, want a tombstone", st)
	}
	if _, ok := e.outlook()["Dan"]; ok || e.Contacts()["Dan"].ID == 0 {
		t.Errorf("Dan: recreated in Outlook, or gone from the CRM")
	}
	e.g.AddContact("", map[string]any{"givenName": "Cy", "emailAddresses": []map[string]string{{"address": "cy@other.example"}}})
	e.g.ExpireContactTokens(false)
	st := e.Sync()
	if len(e.Contacts()) != 4 || len(e.outlook()) != 3 {
		t.Fatalf("%d contacts, %d in Outlook; want 4 and 3", len(e.Contacts()), len(e.outlook()))
	}
	if st.CreatedCRM != 1 || st.CreatedRemote != 0 || st.Linked != 0 || st.Conflicts != 0 {
		t.Errorf("stats %+v, want Cy only", st)
	}
	if len(e.Events) != 1 || e.Events[0] != "token_reset" {
		t.Errorf("events %v", e.Events)
	}
}

// raceRemote edits the contact in Outlook (as the user would) right before
// the engine's first update of it.
type raceRemote struct {
	*graphpim.Contacts
	race func()
}

func (r *raceRemote) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	if r.race != nil {
		r.race()
		r.race = nil
	}
	return r.Contacts.Update(ctx, prev, f)
}

// TestEnginePrecondition: Outlook changed the contact between the listing
// and the update (412): the engine fetches it again and merges, both
// changes end on both sides.
func TestEnginePrecondition(t *testing.T) {
	e := newEnv(t)
	ann := e.CreateContact("Ann", "ann@acme.example")
	e.Sync()
	id := e.outlookID("Ann")
	e.UpdateContact(ann.ID, func(c *crm.Contact) { c.Title = "CEO" })
	e.Remote = &raceRemote{Contacts: e.Remote.(*graphpim.Contacts), race: func() {
		e.g.UpdateContact(id, map[string]any{"personalNotes": "met at the fair"})
	}}
	res, err := e.TryPass()
	if err != nil {
		t.Fatal(err)
	}
	o, _ := e.g.Contact(id)
	c := e.Contacts()["Ann"]
	if o.Props["jobTitle"] != "CEO" || o.Props["personalNotes"] != "met at the fair" || c.Title != "CEO" || c.Notes != "met at the fair" {
		t.Errorf("Outlook %v; CRM title %q notes %q", o.Props, c.Title, c.Notes)
	}
	if res.Stats.ToRemote != 1 || res.Stats.Conflicts != 0 || res.Stats.Failed != 0 {
		t.Errorf("stats %+v", res.Stats)
	}
}

// crashRemote makes the contact and then fails, as a pass that stops right
// after its create, before the mapping is stored.
type crashRemote struct{ *graphpim.Contacts }

func (r crashRemote) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	if _, err := r.Contacts.Create(ctx, uid, f); err != nil {
		return pim.RemoteItem{}, err
	}
	return pim.RemoteItem{}, errors.New("the pass stopped")
}

// TestEngineLostCreate: a create whose answer is lost finds its contact by
// the stamp and links it; a pass that stopped right after a create finds
// the contact in the next round by its stamp. Never a duplicate.
func TestEngineLostCreate(t *testing.T) {
	e := newEnv(t)
	// No address: the contacts are found by their stamps, not by email.
	ann := e.CreateContact("Ann", "")
	e.g.LoseContactReplies(1)
	st := e.Sync()
	if st.Linked != 1 || st.CreatedRemote != 0 || len(e.outlook()) != 1 {
		t.Fatalf("stats %+v, %d in Outlook", st, len(e.outlook()))
	}

	plain := e.Remote
	e.Remote = crashRemote{plain.(*graphpim.Contacts)}
	e.CreateContact("Dan", "")
	if _, err := e.TryPass(); err == nil {
		t.Fatal("the pass did not stop")
	}
	e.Remote = plain
	st = e.Sync()
	if st.Linked != 1 || st.CreatedRemote != 0 || st.CreatedCRM != 0 || len(e.outlook()) != 2 || len(e.Contacts()) != 2 {
		t.Fatalf("stats %+v, %d in Outlook, %d in the CRM", st, len(e.outlook()), len(e.Contacts()))
	}
	items, err := e.Store.PIMItems(e.Ctx, e.CollectionID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range items {
		if m.CRMID == 0 || m.Href == "" || m.Error != "" {
			t.Errorf("mapping %+v", m)
		}
		if m.CRMID == ann.ID && m.Href != e.outlookID("Ann") {
			t.Errorf("Ann mapped to %s", m.Href)
		}
	}
}

// TestEngineCategoriesRestored: a fixed category the user deleted from the
// master list, or renamed, is back after the next pass.
func TestEngineCategoriesRestored(t *testing.T) {
	e := newEnv(t)
	e.CreateContact("Ann", "ann@acme.example")
	e.Sync()
	e.g.DeleteCategory(pim.CategoryPerson)
	e.g.RenameCategory(pim.CategoryLead, "Leads")
	e.Sync()
	have := map[string]bool{}
	for _, c := range e.g.Categories() {
		have[c.DisplayName] = true
	}
	if !have[pim.CategoryPerson] || !have[pim.CategoryLead] || !have["Leads"] {
		t.Errorf("categories %v", e.g.Categories())
	}
}
