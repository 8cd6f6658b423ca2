package store

import (
	"context"
	"time"
)

// Webhook event types (DESIGN §15): what the CRM around crmsync can
// subscribe to. Each is recorded in the transaction of the change it
// reports.
const (
	EventMessageStored       = "message.stored"
	EventMessageLinked       = "message.linked"
	EventMessageSent         = "message.sent"
	EventAccountStateChanged = "account.state_changed"
	EventContactSynced       = "contact.synced"
	EventTaskSynced          = "task.synced"
	EventEventSynced         = "event.synced"
)

// WebhookEventTypes lists every event type, in the order documented.
var WebhookEventTypes = []string{EventMessageStored, EventMessageLinked, EventMessageSent,
	EventAccountStateChanged, EventContactSynced, EventTaskSynced, EventEventSynced}

// Delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // every attempt failed; "send again" starts over
)

// WebhookEndpoint is an address an organisation's admin registered. Its
// signing secret is sealed in the credential CredentialID, never here.
type WebhookEndpoint struct {
	ID           int64
	OrgID        int64
	URL          string
	Description  string
	Events       []string // sorted, each one of WebhookEventTypes
	Active       bool
	CredentialID string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// WebhookDelivery is one event for one endpoint: its state and its last
// attempt's answer.
type WebhookDelivery struct {
	ID         int64
	OrgID      int64
	EndpointID int64
	EventID    string
	EventType  string
	State      string
	Attempts   int
	// LastStatus is the HTTP status of the last answer (0: none came);
	// LastError says why the attempt failed; LastBody is a bounded
	// excerpt of the answer's body.
	LastStatus    int
	LastError     string
	LastBody      string
	LastAttemptAt *time.Time
	NextAttemptAt *time.Time
	DeliveredAt   *time.Time
	CreatedAt     time.Time
	// Payload is the event's JSON body; only WebhookDelivery (the
	// sender's read) fills it.
	Payload []byte
}

// WebhookAttempt is the outcome of one attempt, as the sender records it.
type WebhookAttempt struct {
	At     time.Time
	Status int
	Error  string
	Body   string
	// State is DeliveryDelivered, DeliveryPending (another attempt at
	// NextAt) or DeliveryFailed (no attempt left).
	State  string
	NextAt *time.Time
}

// Webhooks are the organisation's endpoints and the log of deliveries.
// Events are not written through this interface: the store records them
// itself, inside the transactions of the changes they report.
type Webhooks interface {
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) (WebhookEndpoint, error)
	GetWebhookEndpoint(ctx context.Context, orgID, id int64) (WebhookEndpoint, error)
	ListWebhookEndpoints(ctx context.Context, orgID int64) ([]WebhookEndpoint, error)
	// UpdateWebhookEndpoint reads, applies and writes in one transaction.
	UpdateWebhookEndpoint(ctx context.Context, orgID, id int64, apply func(*WebhookEndpoint) error) (WebhookEndpoint, error)
	// DeleteWebhookEndpoint removes the endpoint and its deliveries.
	DeleteWebhookEndpoint(ctx context.Context, orgID, id int64) error
	// ListWebhookDeliveries is an endpoint's log, newest first; beforeID
	// > 0 pages on.
	ListWebhookDeliveries(ctx context.Context, orgID, endpointID, beforeID int64, limit int) ([]WebhookDelivery, error)
	// WebhookDelivery reads a delivery with its event's payload, in any
	// organisation (the sender's read), or ErrNotFound.
	WebhookDelivery(ctx context.Context, id int64) (WebhookDelivery, error)
	// RecordWebhookAttempt records an attempt's outcome and counts it.
	RecordWebhookAttempt(ctx context.Context, id int64, a WebhookAttempt) error
	// RetryWebhookDelivery puts a delivered or failed delivery of the
	// endpoint back to pending with its attempts counted from zero, and
	// queues it again in the same transaction; a pending one is
	// ErrConflict.
	RetryWebhookDelivery(ctx context.Context, orgID, endpointID, id int64) (WebhookDelivery, error)
	// QueueStrandedWebhookDeliveries queues pending deliveries recorded
	// while no queue was attached (a command-line write), at most limit.
	QueueStrandedWebhookDeliveries(ctx context.Context, limit int) (int, error)
	// PurgeWebhookDeliveries removes the delivered and failed deliveries
	// last changed before before, and the events left without any.
	PurgeWebhookDeliveries(ctx context.Context, before time.Time) (int64, error)
}
