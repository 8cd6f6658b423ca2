package engine

import (
	"context"
	"errors"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// Port is the storage a pass works on, as one account sees it: the owner's
// records, read and written on their behalf, and the account's mappings.
// Every write is fenced by the loop's lease (refused with
// store.ErrLeaseLost once the loop lost it), so a pass never needs the
// fence or the viewer itself. StorePort is the Port over a store.Store;
// tests may give their own.
type Port interface {
	// Owner is the account's owner: the records a pass creates are theirs.
	Owner() crm.Viewer

	// PIMItems returns every mapping of a collection (tombstones included).
	PIMItems(ctx context.Context, collectionID int64) ([]store.PIMItem, error)
	// PutPIMCollection records a collection the account syncs (see
	// store.PIM), keeping its stored cursor when c has none.
	PutPIMCollection(ctx context.Context, c store.PIMCollection) (store.PIMCollection, error)
	// SetPIMCursor writes a collection's cursor.
	SetPIMCursor(ctx context.Context, collectionID int64, syncToken, ctag string) error
	// ApplyPIMWrite and ApplyPIMWrites make steps of a pass atomic (see
	// store.PIM).
	ApplyPIMWrite(ctx context.Context, w store.PIMWrite) (store.PIMWrite, error)
	ApplyPIMWrites(ctx context.Context, ws []store.PIMWrite) ([]store.PIMWrite, error)

	// The owner's records, as the API would show them to the owner.
	ListCompanies(ctx context.Context, f store.CompanyFilter) (store.Page[crm.Company], error)
	CreateCompany(ctx context.Context, c crm.Company) (crm.Company, error)
	ListContacts(ctx context.Context, f store.ContactFilter) (store.Page[crm.Contact], error)
	GetContact(ctx context.Context, id int64) (crm.Contact, error)
	ListTasks(ctx context.Context, f store.TaskFilter) (store.Page[crm.Task], error)
	GetTask(ctx context.Context, id int64) (crm.Task, error)
	ListEvents(ctx context.Context, f store.EventFilter) (store.Page[crm.Event], error)
	GetEvent(ctx context.Context, id int64) (crm.Event, error)
	// RecordOutcomes returns, per contact id, the statuses of the
	// opportunities the fixed categories are computed from.
	RecordOutcomes(ctx context.Context) (map[int64][]crm.OpportunityStatus, error)
	// Exists reports whether a record exists at all, seen by the owner or
	// not: a record out of their sight (reassigned, a team changed) is not
	// a deleted one.
	Exists(ctx context.Context, t pim.RecordType, id int64) (bool, error)
}

// StorePort is the Port over a store: reads as Viewer, writes fenced by
// Fence.
type StorePort struct {
	Store  store.Store
	Fence  store.Fence
	Viewer crm.Viewer // the account's owner
}

func (p StorePort) Owner() crm.Viewer { return p.Viewer }

func (p StorePort) PIMItems(ctx context.Context, collectionID int64) ([]store.PIMItem, error) {
	return p.Store.PIMItems(ctx, collectionID)
}

func (p StorePort) PutPIMCollection(ctx context.Context, c store.PIMCollection) (store.PIMCollection, error) {
	return p.Store.PutPIMCollection(ctx, p.Fence, c)
}

func (p StorePort) SetPIMCursor(ctx context.Context, collectionID int64, syncToken, ctag string) error {
	return p.Store.SetPIMCursor(ctx, p.Fence, collectionID, syncToken, ctag)
}

func (p StorePort) ApplyPIMWrite(ctx context.Context, w store.PIMWrite) (store.PIMWrite, error) {
	return p.Store.ApplyPIMWrite(ctx, p.Fence, p.Viewer, w)
}

func (p StorePort) ApplyPIMWrites(ctx context.Context, ws []store.PIMWrite) ([]store.PIMWrite, error) {
	return p.Store.ApplyPIMWrites(ctx, p.Fence, p.Viewer, ws)
}

func (p StorePort) ListCompanies(ctx context.Context, f store.CompanyFilter) (store.Page[crm.Company], error) {
	return p.Store.ListCompanies(ctx, p.Viewer, f)
}

func (p StorePort) CreateCompany(ctx context.Context, c crm.Company) (crm.Company, error) {
	return p.Store.CreateCompany(ctx, p.Viewer, c)
}

func (p StorePort) ListContacts(ctx context.Context, f store.ContactFilter) (store.Page[crm.Contact], error) {
	return p.Store.ListContacts(ctx, p.Viewer, f)
}

func (p StorePort) GetContact(ctx context.Context, id int64) (crm.Contact, error) {
	return p.Store.GetContact(ctx, p.Viewer, id)
}

func (p StorePort) ListTasks(ctx context.Context, f store.TaskFilter) (store.Page[crm.Task], error) {
	return p.Store.ListTasks(ctx, p.Viewer, f)
}

func (p StorePort) GetTask(ctx context.Context, id int64) (crm.Task, error) {
	return p.Store.GetTask(ctx, p.Viewer, id)
}

func (p StorePort) ListEvents(ctx context.Context, f store.EventFilter) (store.Page[crm.Event], error) {
	return p.Store.ListEvents(ctx, p.Viewer, f)
}

func (p StorePort) GetEvent(ctx context.Context, id int64) (crm.Event, error) {
	return p.Store.GetEvent(ctx, p.Viewer, id)
}

func (p StorePort) RecordOutcomes(ctx context.Context) (map[int64][]crm.OpportunityStatus, error) {
	return p.Store.PIMRecordOutcomes(ctx, p.Viewer.OrgID)
}

func (p StorePort) Exists(ctx context.Context, t pim.RecordType, id int64) (bool, error) {
	// An admin of the organisation sees every record.
	any := crm.Viewer{OrgID: p.Viewer.OrgID, UserID: p.Viewer.UserID, Role: crm.RoleAdmin}
	var err error
	switch t {
	case pim.RecordContact:
		_, err = p.Store.GetContact(ctx, any, id)
	case pim.RecordTask:
		_, err = p.Store.GetTask(ctx, any, id)
	default:
		_, err = p.Store.GetEvent(ctx, any, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
