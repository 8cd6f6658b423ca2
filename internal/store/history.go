package store

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// A record's history (DESIGN §3, §9): every change to a company, contact,
// opportunity, task or event, written by the store in the transaction that
// makes the change, so that no value is ever lost without a trace — not a
// user's edit, not an import, not the value a sync conflict overwrote.

// RecordKind names the kind of record a history entry is about.
type RecordKind string

const (
	KindCompany     RecordKind = "company"
	KindContact     RecordKind = "contact"
	KindOpportunity RecordKind = "opportunity"
	KindTask        RecordKind = "task"
	KindEvent       RecordKind = "event"
)

// What a history entry records.
const (
	HistoryCreate   = "create"   // the record was created (no field)
	HistoryUpdate   = "update"   // one field changed from Old to New
	HistoryDelete   = "delete"   // the record was deleted; Old holds it as JSON
	HistoryConflict = "conflict" // a sync conflict: New was kept, Old lost
)

// MaxHistoryValue is the most characters of a value a history entry keeps;
// a longer one is cut and ends with a marker saying how much was left out.
const MaxHistoryValue = 4000

// MaxHistoryPerRecord is how many entries a record keeps: past it, the
// oldest go as new ones come.
const MaxHistoryPerRecord = 1000

// HistoryEntry is one change to one record. Exactly one of UserID and
// PIMAccountID is set: who made the change, or which sync account.
type HistoryEntry struct {
	ID           int64      `json:"id"`
	RecordType   RecordKind `json:"record_type"`
	RecordID     int64      `json:"record_id"`
	At           time.Time  `json:"at"`
	Action       string     `json:"action"`
	Field        string     `json:"field,omitempty"`
	Old          *string    `json:"old"`
	New          *string    `json:"new"`
	UserID       *int64     `json:"user_id,omitempty"`
	PIMAccountID *int64     `json:"pim_account_id,omitempty"`
	// Note says in words what happened when the fields do not say it all
	// (a conflict: which side's value was kept and which lost).
	Note string `json:"note,omitempty"`
}

// History reads the record histories.
type History interface {
	// RecordHistory pages through a record's history, newest first, if v
	// may see the record (or, once it is deleted, could see it when it was
	// deleted); ErrNotFound otherwise.
	RecordHistory(ctx context.Context, v crm.Viewer, kind RecordKind, id int64, p ListParams) (Page[HistoryEntry], error)
}
