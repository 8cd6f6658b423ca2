// Package enginetest is the harness of tests that run PIM passes over a
// real store: one user's PIM account with one collection, under the
// account's lease, as the sync loop holds it. The engine's own tests and
// each connector's (CalDAV, Graph…) build on it rather than on a copy.
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
)

// Account is an organisation whose admin has one PIM account syncing one
// collection.
type Account struct {
	T            testing.TB
	Ctx          context.Context
	Store        *sqlstore.DB
	Viewer       crm.Viewer // the admin, owner of the account
	Fence        store.Fence
	AccountID    int64
	CollectionID int64
}

// New makes the organisation, the account (of kind; the engine does not
// read it) and its collection href of kind coll in st, and claims the
// account's lease.
func New(t testing.TB, st *sqlstore.DB, kind crm.PIMKind, coll pim.CollectionKind, href, name string) *Account {
	t.Helper()
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	a, err := st.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: admin.ID, Kind: kind, URL: "https://pim.acme.example/", Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.ClaimLease(ctx, "pim", fmt.Sprint(a.ID), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.PutPIMCollection(ctx, l.Fence(), store.PIMCollection{AccountID: a.ID, Href: href, Kind: coll, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	return &Account{T: t, Ctx: ctx, Store: st, Viewer: v, Fence: l.Fence(), AccountID: a.ID, CollectionID: c.ID}
}

// Port is the store as a pass sees it.
func (a *Account) Port() engine.Port {
	return engine.StorePort{Store: a.Store, Fence: a.Fence, Viewer: a.Viewer}
}

// Collection returns the collection as stored now (its cursor included).
func (a *Account) Collection() store.PIMCollection {
	a.T.Helper()
	return a.CollectionOf(a.CollectionID)
}

// CollectionOf returns another collection of the account (one a test
// added) as stored now.
func (a *Account) CollectionOf(id int64) store.PIMCollection {
	a.T.Helper()
	colls, err := a.Store.PIMCollections(a.Ctx, a.AccountID)
	if err != nil {
		a.T.Fatal(err)
	}
	for _, c := range colls {
		if c.ID == id {
			return c
		}
	}
	a.T.Fatal("collection not found")
	return store.PIMCollection{}
}
