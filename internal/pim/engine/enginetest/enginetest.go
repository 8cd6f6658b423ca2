// Package enginetest runs the PIM engine on a fresh store for tests of the
// engine and of PIM connectors: an organisation, one PIM account under its
// lease with one collection, passes over the Remote given, and the CRM's
// side read back.
package enginetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// Env is one user's PIM account on its own store, under the account's
// lease, syncing one collection with Remote.
type Env struct {
	T         testing.TB
	Ctx       context.Context
	Store     *sqlstore.DB
	Viewer    crm.Viewer // the account's owner, an admin
	Fence     store.Fence
	AccountID int64
	CollID    int64
	Remote    pim.Remote
	// Policy is the passes' conflict policy (New: NewestWins).
	Policy pim.Policy
	// Events are the kinds of the history events TryPass recorded.
	Events []string
}

// New makes the account and its contacts collection at href, synced with
// remote. The account's kind does not matter to the engine.
func New(t testing.TB, f storetest.Factory, href string, remote pim.Remote) *Env {
	t.Helper()
	st, _ := f(t)
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	a, err := st.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: admin.ID, Kind: crm.PIMCardDAV, URL: "https://dav.acme.example/", Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.ClaimLease(ctx, "pim", fmt.Sprint(a.ID), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := st.PutPIMCollection(ctx, l.Fence(), store.PIMCollection{AccountID: a.ID, Href: href, Kind: pim.Contacts, DisplayName: "Contacts"})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{T: t, Ctx: ctx, Store: st, Viewer: v, Fence: l.Fence(), AccountID: a.ID, CollID: coll.ID, Remote: remote, Policy: pim.NewestWins}
}

// Pass runs one pass as the loop does, with the collection's cursor as
// stored, under policy; event is told the history events it records.
func (e *Env) Pass(policy pim.Policy, event func(ctx context.Context, kind, msg string)) (engine.Result, error) {
	e.T.Helper()
	return engine.Run(e.Ctx, engine.Config{Port: engine.StorePort{Store: e.Store, Fence: e.Fence, Viewer: e.Viewer}, Remote: e.Remote,
		Collection: e.Collection(), Policy: policy, Event: event})
}

// TryPass runs one pass under e.Policy, recording its events' kinds in
// e.Events.
func (e *Env) TryPass() (engine.Result, error) {
	e.T.Helper()
	return e.Pass(e.Policy, func(_ context.Context, kind, _ string) { e.Events = append(e.Events, kind) })
}

// Sync runs passes until no backlog is left, and returns what they did.
func (e *Env) Sync() engine.Stats {
	e.T.Helper()
	var total engine.Stats
	for range 5 {
		res, err := e.TryPass()
		if err != nil {
			e.T.Fatalf("pass: %v", err)
		}
		total = total.Add(res.Stats)
		if res.Backlog == 0 {
			return total
		}
	}
	e.T.Fatal("still a backlog after 5 passes")
	return total
}

// Collection is the synced collection as stored.
func (e *Env) Collection() store.PIMCollection {
	e.T.Helper()
	colls, err := e.Store.PIMCollections(e.Ctx, e.AccountID)
	if err != nil {
		e.T.Fatal(err)
	}
	for _, c := range colls {
		if c.ID == e.CollID {
			return c
		}
	}
	e.T.Fatal("collection not found")
	return store.PIMCollection{}
}

// CreateContact creates a lead "first Doe" in the CRM, with email unless
// it is "".
func (e *Env) CreateContact(first, email string) crm.Contact {
	e.T.Helper()
	c := crm.Contact{OrgID: e.Viewer.OrgID, OwnerID: e.Viewer.UserID, FirstName: first, LastName: "Doe", Lifecycle: crm.LifecycleLead}
	if email != "" {
		c.Emails = []string{email}
	}
	c, err := e.Store.CreateContact(e.Ctx, e.Viewer, c)
	if err != nil {
		e.T.Fatal(err)
	}
	return c
}

// UpdateContact changes a CRM contact as a user would.
func (e *Env) UpdateContact(id int64, fn func(*crm.Contact)) {
	e.T.Helper()
	if _, err := e.Store.UpdateContact(e.Ctx, e.Viewer, id, func(c *crm.Contact) error { fn(c); return nil }); err != nil {
		e.T.Fatal(err)
	}
}

// Contacts returns the CRM's contacts by first name; two of one name fail
// the test (a duplicate).
func (e *Env) Contacts() map[string]crm.Contact {
	e.T.Helper()
	p, err := e.Store.ListContacts(e.Ctx, e.Viewer, store.ContactFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.T.Fatal(err)
	}
	out := map[string]crm.Contact{}
	for _, c := range p.Items {
		if _, dup := out[c.FirstName]; dup {
			e.T.Fatalf("two CRM contacts named %q", c.FirstName)
		}
		out[c.FirstName] = c
	}
	return out
}

// Mappings returns the collection's mappings.
func (e *Env) Mappings() []store.PIMItem {
	e.T.Helper()
	items, err := e.Store.PIMItems(e.Ctx, e.CollID)
	if err != nil {
		e.T.Fatal(err)
	}
	return items
}
