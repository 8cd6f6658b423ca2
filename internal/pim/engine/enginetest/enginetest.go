// Package enginetest runs PIM engine passes in tests: a store holding one
// user's PIM account and one of its collections, under the account's
// lease, as the sync loop has it. The engine's own tests and each
// connector's end-to-end tests (a pim.Remote against its fake server)
// build on it rather than each setting up a store, an account and a lease.
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

// Env is one user's PIM account with one collection.
type Env struct {
	T      testing.TB
	Ctx    context.Context
	Store  *sqlstore.DB
	Viewer crm.Viewer // the account's owner, an admin of the organisation
	Fence  store.Fence
	// AccountID and CollectionID are the stored account's and collection's.
	AccountID, CollectionID int64
}

// New opens a store with f and records an organisation, its admin, a PIM
// account of kind for them, its lease, and coll (its AccountID is set).
func New(t testing.TB, f storetest.Factory, kind crm.PIMKind, coll store.PIMCollection) *Env {
	t.Helper()
	st, _ := f(t)
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	svc := map[pim.CollectionKind]crm.PIMService{pim.Contacts: crm.ServiceContacts, pim.Events: crm.ServiceCalendar, pim.Tasks: crm.ServiceTasks}[coll.Kind]
	a, err := st.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: admin.ID, Kind: kind, Service: svc, URL: "https://dav.acme.example/", Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.ClaimLease(ctx, "pim", fmt.Sprint(a.ID), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	coll.AccountID = a.ID
	c, err := st.PutPIMCollection(ctx, l.Fence(), coll)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{T: t, Ctx: ctx, Store: st, Viewer: v, Fence: l.Fence(), AccountID: a.ID, CollectionID: c.ID}
}

// Port is the engine's view of the store, as the account's owner.
func (e *Env) Port() engine.StorePort {
	return engine.StorePort{Store: e.Store, Fence: e.Fence, Viewer: e.Viewer}
}

// Collection returns the collection as stored now (with its cursor).
func (e *Env) Collection() store.PIMCollection {
	e.T.Helper()
	colls, err := e.Store.PIMCollections(e.Ctx, e.AccountID)
	if err != nil {
		e.T.Fatal(err)
	}
	for _, c := range colls {
		if c.ID == e.CollectionID {
			return c
		}
	}
	e.T.Fatal("collection not found")
	return store.PIMCollection{}
}

// Pass runs one pass with cfg over the collection as stored (cfg's Port
// and Collection are set here).
func (e *Env) Pass(cfg engine.Config) (engine.Result, error) {
	cfg.Port, cfg.Collection = e.Port(), e.Collection()
	return engine.Run(e.Ctx, cfg)
}

// Sync runs pass until one leaves no backlog, at most 5 times, failing t
// on an error or a backlog left, and returns the sum of their stats.
func Sync(t testing.TB, pass func() (engine.Result, error)) engine.Stats {
	t.Helper()
	var total engine.Stats
	for range 5 {
		res, err := pass()
		if err != nil {
			t.Fatalf("pass: %v", err)
		}
		total = total.Add(res.Stats)
		if res.Backlog == 0 {
			return total
		}
	}
	t.Fatal("still a backlog after 5 passes")
	return total
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
	items, err := e.Store.PIMItems(e.Ctx, e.CollectionID)
	if err != nil {
		e.T.Fatal(err)
	}
	return items
}
