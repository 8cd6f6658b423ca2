package store

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// Outbox holds mail to send until the SMTP server has it (DESIGN §4):
// queued by the API, sent by the account's loop under its lease,
// retried on transient failures, never sent twice.
type Outbox interface {
	// EnqueueMail queues an item from an account v may see. Its MessageID
	// must be unique (ErrConflict otherwise: the same send request twice).
	EnqueueMail(ctx context.Context, v crm.Viewer, it crm.OutboxItem) (crm.OutboxItem, error)
	GetOutboxItem(ctx context.Context, v crm.Viewer, id int64) (crm.OutboxItem, error)
	// DueOutbox returns items to work on: queued ones whose next attempt has
	// come, and "sending" ones left by a process that died mid-attempt.
	// Only the account's own: each account's loop sends its mail.
	DueOutbox(ctx context.Context, accountID int64, now time.Time, staleSending time.Duration, limit int) ([]crm.OutboxItem, error)
	// UpdateOutbox records an attempt's outcome under the sender's lease.
	// It changes state, attempts, next attempt, error and email id.
	UpdateOutbox(ctx context.Context, f Fence, it crm.OutboxItem) error
	// ListOutbox lists the items of the accounts v may see, newest first.
	// Items come without Raw and with only the recipients and subject of
	// their Request: a list never reads the bodies or attachments.
	ListOutbox(ctx context.Context, v crm.Viewer, f OutboxFilter) (Page[crm.OutboxItem], error)
}

// OutboxFilter narrows an outbox list; zero values do not filter.
type OutboxFilter struct {
	Limit     int
	Cursor    string
	State     crm.OutboxState
	AccountID int64
}
