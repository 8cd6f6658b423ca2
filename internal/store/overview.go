package store

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// Overview is what an operator watches across every organisation: how
// many accounts are in which state, how far behind the oldest is, how much
// mail waits to be sent. Metrics (package metrics, at scrape time) and
// `crmsync status` read it; both are read-only and see no CRM data.
type Overview interface {
	// AccountCounts counts mail and PIM accounts by kind, provider, state
	// and error code.
	AccountCounts(ctx context.Context) ([]AccountCount, error)
	// OutboxDepth counts the outbox items not yet handed to a server.
	OutboxDepth(ctx context.Context) (queued, sending int64, err error)
	// WebhookQueueDepth counts the webhook deliveries still pending (not
	// yet answered 2xx nor given up), every organisation together.
	WebhookQueueDepth(ctx context.Context) (int64, error)
}

// Account kinds of AccountCount.
const (
	AccountKindMail = "mail"
	AccountKindPIM  = "pim"
)

// AccountCount is the number of accounts sharing a kind, provider, state
// and error code.
type AccountCount struct {
	Kind string // AccountKindMail or AccountKindPIM
	// Provider is a mailbox's provider (imap, microsoft, google, …), or a
	// PIM account's kind and service ("carddav/contacts",
	// "microsoft/calendar").
	Provider  string
	State     crm.AccountState
	ErrorCode string
	Count     int64
	// OldestSync is the earliest last successful sync (or, for an account
	// never synced, its creation) among these accounts that are synced
	// at all: mailboxes in sync mode, not disconnected. Nil when none is.
	OldestSync *time.Time
}

// OldestSync is the earliest OldestSync among counts of kind (nil: no
// account of that kind syncs).
func OldestSync(counts []AccountCount, kind string) *time.Time {
	var oldest *time.Time
	for _, c := range counts {
		if c.Kind == kind && c.OldestSync != nil && (oldest == nil || c.OldestSync.Before(*oldest)) {
			oldest = c.OldestSync
		}
	}
	return oldest
}
