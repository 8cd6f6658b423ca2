package store

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// Offboarding is what the store does when a user leaves (DESIGN §11): count
// what they hold, hand it to a successor, and deactivate or delete them in
// one transaction. The workflow around it (disconnecting their mailboxes
// and address books first, the words of a refusal) is internal/users'.
type Offboarding interface {
	// UserHoldings counts everything that refers to a user of the
	// organisation: the records they own, their reports, their mailboxes
	// (connected or retained) and their PIM accounts. ErrNotFound when
	// there is no such user.
	UserHoldings(ctx context.Context, orgID, id int64) (UserHoldings, error)
	// OffboardUser deactivates (or, with p.Delete, deletes) a user. With
	// p.ReassignTo, their companies, contacts, opportunities, tasks and
	// events and their reports go to that user, and on delete their
	// disconnected mailboxes too, with their messages and outbox, for the
	// rest of their retention. Their tokens are revoked (deleted with
	// them on delete). Refusals: ErrNotFound; a FieldError on
	// "reassign_to" (not_found, inactive, same_user, cycle, duplicate) or
	// on "role" (last_admin, when the user is the last active admin);
	// ErrInUse on delete when anything would still refer to the user (a
	// record, a report, a mailbox, a PIM account) — the caller counts
	// with UserHoldings and says what. Offboarding a deactivated user
	// again (to delete them, or to reassign what they kept) is allowed.
	OffboardUser(ctx context.Context, orgID, id int64, p OffboardParams) (OffboardResult, error)
	// ReactivateUser lets a deactivated user sign in again; their tokens
	// stay revoked. A user already active is returned unchanged.
	ReactivateUser(ctx context.Context, orgID, id int64) (crm.User, error)
}

// UserHoldings counts what refers to a user.
type UserHoldings struct {
	Companies     int64 `json:"companies"`
	Contacts      int64 `json:"contacts"`
	Opportunities int64 `json:"opportunities"`
	Tasks         int64 `json:"tasks"`
	Events        int64 `json:"events"`
	Reports       int64 `json:"reports"`
	// MailAccounts counts every mailbox, connected or disconnected and
	// retained; ConnectedMailAccounts those still connected.
	MailAccounts          int64 `json:"mail_accounts"`
	ConnectedMailAccounts int64 `json:"-"`
	PIMAccounts           int64 `json:"pim_accounts"`
}

// Records is how many CRM records the holdings count.
func (h UserHoldings) Records() int64 {
	return h.Companies + h.Contacts + h.Opportunities + h.Tasks + h.Events
}

// OffboardParams says how a user leaves.
type OffboardParams struct {
	// ReassignTo is the active user of the same organisation who takes
	// over; nil keeps everything with the user (deactivation only).
	ReassignTo *int64
	// Delete removes the user; otherwise they are deactivated.
	Delete bool
	// By is the admin offboarding the user: the author of the owner_id
	// entries the reassignment writes in each record's history. Required
	// with ReassignTo.
	By int64
	At time.Time
}

// OffboardResult is what an offboarding did.
type OffboardResult struct {
	// User is the user as they are now (deactivated), or as they were
	// (deleted).
	User crm.User
	// Reassigned counts what went to the successor (mail accounts only
	// on delete).
	Reassigned    UserHoldings
	TokensRevoked int64
}
