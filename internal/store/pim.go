package store

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// Tasks are read and written on behalf of a viewer; visibility is by owner,
// as for contacts.
type Tasks interface {
	CreateTask(ctx context.Context, v crm.Viewer, t crm.Task) (crm.Task, error)
	GetTask(ctx context.Context, v crm.Viewer, id int64) (crm.Task, error)
	UpdateTask(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Task) error) (crm.Task, error)
	DeleteTask(ctx context.Context, v crm.Viewer, id int64) error
	ListTasks(ctx context.Context, v crm.Viewer, f TaskFilter) (Page[crm.Task], error)
}

// Events are read and written on behalf of a viewer; visibility is by
// owner, as for contacts.
type Events interface {
	CreateEvent(ctx context.Context, v crm.Viewer, e crm.Event) (crm.Event, error)
	GetEvent(ctx context.Context, v crm.Viewer, id int64) (crm.Event, error)
	UpdateEvent(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Event) error) (crm.Event, error)
	DeleteEvent(ctx context.Context, v crm.Viewer, id int64) error
	ListEvents(ctx context.Context, v crm.Viewer, f EventFilter) (Page[crm.Event], error)
}

// TaskFilter narrows a task list. Q matches the summary.
type TaskFilter struct {
	ListParams
	OwnerID   *int64
	ContactID *int64
	Status    crm.TaskStatus
}

// EventFilter narrows an event list. Q matches the summary. From and To
// keep the events that may have an occurrence in [From, To): a single
// event by its start and end, a recurring one by its first start and the
// end of its series (open-ended rules always match after their start).
type EventFilter struct {
	ListParams
	OwnerID   *int64
	ContactID *int64
	From, To  *time.Time
}

// PIM is what the two-way sync of contacts, tasks and events keeps
// (DESIGN §9). Methods taking a Viewer serve the API; methods taking a
// Fence are the sync loop's writes, refused once it lost the account's
// lease.
type PIM interface {
	// CreatePIMAccount stores a new account owned by a.UserID (checked
	// against v like any record owner). One user has at most one account
	// per (kind, url, username): a second gets a FieldError on "url".
	CreatePIMAccount(ctx context.Context, v crm.Viewer, a crm.PIMAccount) (crm.PIMAccount, error)
	GetPIMAccount(ctx context.Context, v crm.Viewer, id int64) (crm.PIMAccount, error)
	ListPIMAccounts(ctx context.Context, v crm.Viewer, f PIMAccountFilter) (Page[crm.PIMAccount], error)
	// UpdatePIMAccount changes settings, credentials, options or
	// SyncRequested in one transaction.
	UpdatePIMAccount(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.PIMAccount) error) (crm.PIMAccount, error)
	// DeletePIMAccount removes the account with its collections, mappings
	// and history. CRM records it brought in stay, and nothing is deleted
	// on the provider: deletions are never propagated.
	DeletePIMAccount(ctx context.Context, v crm.Viewer, id int64) error

	// SyncablePIMAccounts lists the accounts a loop should run for: due
	// (next attempt passed or unset) or with a sync requested.
	SyncablePIMAccounts(ctx context.Context, now time.Time) ([]crm.PIMAccount, error)
	// PIMAccountByID reads an account without a viewer (sync loops).
	PIMAccountByID(ctx context.Context, id int64) (crm.PIMAccount, error)
	// RecordPIMStatus writes the state users see (and clears
	// SyncRequested when clearRequest), plus an event to the account's
	// history when ev is not nil.
	RecordPIMStatus(ctx context.Context, f Fence, id int64, st AccountStatus, clearRequest bool, ev *AccountEvent) error
	PIMAccountEvents(ctx context.Context, accountID int64, limit int) ([]AccountEvent, error)

	// PIMCollections lists an account's collections with their cursors.
	PIMCollections(ctx context.Context, accountID int64) ([]PIMCollection, error)
	// PutPIMCollection inserts or updates (by account and href) a
	// collection, keeping its cursor unless c carries one.
	PutPIMCollection(ctx context.Context, f Fence, c PIMCollection) (PIMCollection, error)
	// SetPIMCursor writes a collection's cursor.
	SetPIMCursor(ctx context.Context, f Fence, collectionID int64, syncToken, ctag string) error

	// PIMItemStats counts an account's mappings for its status page, and
	// returns up to maxErrors of those in error (without Base and Raw).
	PIMItemStats(ctx context.Context, accountID int64, maxErrors int) (PIMStats, error)
	// PIMItems returns every mapping of a collection (tombstones included).
	PIMItems(ctx context.Context, collectionID int64) ([]PIMItem, error)
	// ApplyPIMWrite makes one step of a sync pass atomic: the CRM record
	// write (if any) and the mapping write (if any) commit together, so
	// the base always describes what the engine wrote (no echo).
	ApplyPIMWrite(ctx context.Context, f Fence, v crm.Viewer, w PIMWrite) (PIMWrite, error)
	// ApplyPIMWrites makes several such steps in one transaction: all of
	// them, or none (a first sync's imports, a batch at a time).
	ApplyPIMWrites(ctx context.Context, f Fence, v crm.Viewer, ws []PIMWrite) ([]PIMWrite, error)
	// PIMRecordOutcomes returns, per contact id, the statuses of the
	// opportunities the contact is on or that belong to its company: what
	// the fixed categories are computed from.
	PIMRecordOutcomes(ctx context.Context, orgID int64) (map[int64][]crm.OpportunityStatus, error)
}

// PIMAccountFilter narrows a PIM account list.
type PIMAccountFilter struct {
	ListParams
	UserID *int64
}

// PIMCollection is an address book, calendar or task list synced, with
// its cursor.
type PIMCollection struct {
	ID          int64              `json:"-"`
	AccountID   int64              `json:"-"`
	Href        string             `json:"href"`
	Kind        pim.CollectionKind `json:"kind"`
	DisplayName string             `json:"display_name"`
	SyncToken   string             `json:"-"`
	CTag        string             `json:"-"`
}

// PIMItem is the mapping of one CRM record to one remote item.
type PIMItem struct {
	ID           int64
	AccountID    int64
	CollectionID int64
	RecordType   pim.RecordType
	CRMID        int64  // 0 while the CRM side does not exist yet
	Href         string // remote id; "" while the remote side does not exist yet
	UID          string
	ETag         string
	// Base is the JSON of the normalized fields both sides held at the
	// end of the last sync (pim.Fields); the store does not read it.
	Base []byte
	// Raw is the remote item's body as last seen, so that a CRM-side
	// change can be written as a patch of it without a fetch.
	Raw []byte
	// CRMUpdatedAt is the CRM record's updated_at after the engine's last
	// write or read of it: a record not updated since is unchanged.
	CRMUpdatedAt time.Time
	// TombstoneSide is "crm" or "remote" once the item was deleted on
	// that side ("" otherwise); the item is then never synced again.
	TombstoneSide string
	TombstonedAt  *time.Time
	// Error is the last error met on this item ("" when it synced), shown
	// in the account's status; the item is skipped, never blocking others.
	Error string
}

// PIMStats counts an account's mappings.
type PIMStats struct {
	// Synced counts the records mapped on both sides, by record type.
	Synced map[pim.RecordType]int64
	// NotImported counts remote items left out (their categories were
	// not chosen) or not readable.
	NotImported int64
	Tombstoned  int64
	Errors      int64
	ItemErrors  []PIMItem
}

// PIMWrite is one atomic step of a sync pass. Contact, Task or Event (at
// most one) is created when its ID is 0 and replaced otherwise; a
// replacement is refused with ErrStale when the stored record's UpdatedAt
// is not the one given (the user edited it since the engine read it).
// Item is inserted when its ID is 0 and replaced otherwise; its CRMID is
// filled from a record created in the same write, and its CRMUpdatedAt set
// to the record's new UpdatedAt. The returned PIMWrite holds the stored
// values.
type PIMWrite struct {
	Contact *crm.Contact
	Task    *crm.Task
	Event   *crm.Event
	Item    *PIMItem
	// Pending keeps Item.CRMUpdatedAt as given instead of the record's new
	// one: the record is ahead of the base (the engine wrote the CRM side
	// of a merge and has yet to write the remote side), so the next pass
	// must look at it again.
	Pending bool
	// AccountID is the PIM account making the write: the record's history
	// names it as the author of the change.
	AccountID int64
	// Conflicts are the fields changed differently on both sides that the
	// merge behind this write decided: each goes to the history of the
	// record (the one written, or else the one Item maps), with the value
	// kept and the value lost.
	Conflicts []pim.Conflict
}
