// Package store defines the one interface through which crmsync reads and
// writes its data, and the parameter and error types that go with it.
//
// Two implementations satisfy it: store/sqlite (the default, embedded, one
// process) and store/postgres (several processes share work through leases).
// Both are thin dialects over store/sqlstore; store/storetest is the
// conformance suite that every implementation must pass.
//
// Every method is scoped to an organisation. Methods on CRM records take a
// crm.Viewer and return ErrNotFound for a record the viewer may not see, so
// that a caller cannot tell "not yours" from "does not exist".
package store

import (
	"context"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// Errors returned by every implementation. Callers compare with errors.Is.
var (
	ErrNotFound           = errors.New("store: not found")
	ErrConflict           = errors.New("store: conflicts with an existing record")
	ErrTokenLimit         = errors.New("store: too many active API tokens")
	ErrAlreadyInitialized = errors.New("store: already initialised")
	ErrSchemaBehind       = errors.New("store: database schema is behind this binary")
	ErrSchemaAhead        = errors.New("store: database schema is newer than this binary")
	ErrLeaseHeld          = errors.New("store: lease is held by another owner")
	ErrLeaseLost          = errors.New("store: lease was lost")
	ErrInUse              = errors.New("store: record is still referenced")
	ErrStale              = errors.New("store: record changed since it was read")
	// ErrStorageFull is a write refused because the database's disk (or
	// its configured size limit) is full. Reads keep working; an operator
	// must free space.
	ErrStorageFull = errors.New("store: the database's disk is full")
)

// FieldError is a write refused because of one field's value (a reference to
// a record that does not exist or is not visible, a duplicate email…). The
// API turns it into a 4xx naming the field.
type FieldError struct {
	Field   string
	Code    string // "not_found", "duplicate", "cycle", ...
	Message string
}

func (e *FieldError) Error() string { return "store: " + e.Field + ": " + e.Message }

// Store is everything crmsync keeps. Implementations are safe for concurrent
// use.
type Store interface {
	// Dialect is "sqlite" or "postgres".
	Dialect() string
	Close() error

	// SchemaVersion returns the version the database is at and the version
	// this binary expects.
	SchemaVersion(ctx context.Context) (current, latest int, err error)
	// Migrate applies every pending migration, each in its own transaction.
	Migrate(ctx context.Context) (applied int, err error)

	// CreateOrg creates an organisation with its first admin and an API
	// token for them, atomically. With p.RequireEmpty it fails with
	// ErrAlreadyInitialized when any organisation exists (crmsync init).
	CreateOrg(ctx context.Context, p CreateOrgParams) (crm.Org, crm.User, crm.Token, error)
	GetOrg(ctx context.Context, orgID int64) (crm.Org, error)

	// Users. Every user of an organisation is visible to every other: the
	// directory is needed to assign owners. Emails are unique server-wide
	// because they are what people sign in with.
	CreateUser(ctx context.Context, orgID int64, p UserParams) (crm.User, error)
	GetUser(ctx context.Context, orgID, id int64) (crm.User, error)
	// UserForLogin finds a user by email across organisations, with their
	// password hash ("" when they have none).
	UserForLogin(ctx context.Context, email string) (crm.User, string, error)
	UpdateUser(ctx context.Context, orgID, id int64, apply func(*UserParams) error) (crm.User, error)
	DeleteUser(ctx context.Context, orgID, id int64) error
	ListUsers(ctx context.Context, orgID int64, f UserFilter) (Page[crm.User], error)

	Companies
	Contacts
	Opportunities
	Tasks
	Events
	Tokens
	TwoFactor
	Offboarding
	Credentials
	OAuth
	MailPush
	Leases
	Overview
	Mail
	Links
	Forwarding
	Outbox
	PIM
	History
	SSO
	Webhooks
}

// Companies are read and written on behalf of a viewer.
type Companies interface {
	CreateCompany(ctx context.Context, v crm.Viewer, c crm.Company) (crm.Company, error)
	GetCompany(ctx context.Context, v crm.Viewer, id int64) (crm.Company, error)
	// UpdateCompany reads the company, lets apply change it, and writes it
	// back in one transaction, so concurrent partial updates never lose each
	// other's fields.
	UpdateCompany(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Company) error) (crm.Company, error)
	DeleteCompany(ctx context.Context, v crm.Viewer, id int64) error
	ListCompanies(ctx context.Context, v crm.Viewer, f CompanyFilter) (Page[crm.Company], error)
}

// Contacts are read and written on behalf of a viewer.
type Contacts interface {
	CreateContact(ctx context.Context, v crm.Viewer, c crm.Contact) (crm.Contact, error)
	GetContact(ctx context.Context, v crm.Viewer, id int64) (crm.Contact, error)
	UpdateContact(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Contact) error) (crm.Contact, error)
	DeleteContact(ctx context.Context, v crm.Viewer, id int64) error
	ListContacts(ctx context.Context, v crm.Viewer, f ContactFilter) (Page[crm.Contact], error)
}

// Opportunities are read and written on behalf of a viewer.
type Opportunities interface {
	CreateOpportunity(ctx context.Context, v crm.Viewer, o crm.Opportunity) (crm.Opportunity, error)
	GetOpportunity(ctx context.Context, v crm.Viewer, id int64) (crm.Opportunity, error)
	UpdateOpportunity(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Opportunity) error) (crm.Opportunity, error)
	DeleteOpportunity(ctx context.Context, v crm.Viewer, id int64) error
	ListOpportunities(ctx context.Context, v crm.Viewer, f OpportunityFilter) (Page[crm.Opportunity], error)
}

// Tokens are API and session tokens. Only their SHA-256 hash is stored.
type Tokens interface {
	// CreateToken stores a new token. An API token beyond
	// crm.MaxAPITokensPerUser active ones fails with ErrTokenLimit; the
	// count and the insert happen in one transaction.
	CreateToken(ctx context.Context, p TokenParams) (crm.Token, error)
	// TokenByHash returns the active (not revoked, not expired) token with
	// that hash and its user, or ErrNotFound (also when the user was
	// deactivated: their tokens stop working at once).
	TokenByHash(ctx context.Context, hash []byte, now time.Time) (crm.Token, crm.User, error)
	// TouchToken records a use; callers throttle it.
	TouchToken(ctx context.Context, id int64, at time.Time) error
	// ListTokens lists a user's active tokens of a kind, oldest first.
	ListTokens(ctx context.Context, orgID, userID int64, kind crm.TokenKind, now time.Time) ([]crm.Token, error)
	RevokeToken(ctx context.Context, orgID, userID, id int64, at time.Time) error
	// RevokeUserTokens revokes every active token of a kind of a user but
	// except (0: none) and returns how many: a password change ends the
	// user's other sessions.
	RevokeUserTokens(ctx context.Context, orgID, userID int64, kind crm.TokenKind, except int64, at time.Time) (int64, error)
	// PurgeTokens deletes session tokens that expired and tokens revoked
	// before the cutoff. It is maintenance, run under a lease.
	PurgeTokens(ctx context.Context, f Fence, cutoff time.Time) (int64, error)
}

// Credentials hold encrypted secrets (mailbox passwords, OAuth tokens). The
// store never sees a plaintext: callers seal with package secret, binding
// the ciphertext to the credential's ID as associated data.
type Credentials interface {
	PutCredential(ctx context.Context, c Credential) error
	GetCredential(ctx context.Context, orgID int64, id string) (Credential, error)
	DeleteCredential(ctx context.Context, orgID int64, id string) error
	// ListCredentials pages through every credential of every
	// organisation, by ID, for key rotation.
	ListCredentials(ctx context.Context, afterID string, limit int) ([]Credential, error)
	// ReplaceCiphertext swaps a credential's ciphertext only if it still
	// holds old, so rotation never overwrites a concurrent change.
	ReplaceCiphertext(ctx context.Context, id string, old, new []byte) error
}

// Leases share work among processes (DESIGN §10). A lease is a row per
// (kind, key) with an owner, an expiry and a generation that grows each time
// the lease changes hands. Expiry is measured on the database's clock, so
// processes on machines with skewed clocks still agree.
type Leases interface {
	// ClaimLease takes the lease if it is free, expired, or already ours.
	// Otherwise ErrLeaseHeld.
	ClaimLease(ctx context.Context, kind, key, owner string, ttl time.Duration) (Lease, error)
	// RenewLease extends a lease still held with the same generation, or
	// returns ErrLeaseLost.
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up at once so another process may take it.
	ReleaseLease(ctx context.Context, l Lease) error
	// GetLease returns the lease row as it stands (for status pages).
	GetLease(ctx context.Context, kind, key string) (Lease, error)
	// ListLeases returns the leases not yet expired.
	ListLeases(ctx context.Context) ([]Lease, error)
	// CheckFence returns nil if f's lease is still held, unexpired, with
	// f's generation; ErrLeaseLost otherwise. Writes made under a lease run
	// the same check inside their own transaction.
	CheckFence(ctx context.Context, f Fence) error
}

// Lease is a held claim on a unit of work.
type Lease struct {
	Kind       string
	Key        string
	Owner      string
	Generation int64
	ExpiresAt  time.Time
}

// Fence returns the token that writes made under l carry.
func (l Lease) Fence() Fence {
	return Fence{Kind: l.Kind, Key: l.Key, Owner: l.Owner, Generation: l.Generation}
}

// Fence identifies the lease under which a write is made. The store refuses
// the write with ErrLeaseLost unless the lease is still held by Owner at
// Generation: a process that stalled past its lease cannot clobber the work
// of the one that took over.
type Fence struct {
	Kind       string
	Key        string
	Owner      string
	Generation int64
}

// CreateOrgParams describes a new organisation and its first admin.
type CreateOrgParams struct {
	Name              string
	AdminEmail        string
	AdminName         string
	AdminPasswordHash string // "" for none (token-only until one is set)
	TokenName         string
	TokenHash         []byte
	TokenPrefix       string
	RequireEmpty      bool
}

// UserParams are a user's writable fields.
type UserParams struct {
	Email        string
	Name         string
	Role         crm.Role
	ManagerID    *int64
	PasswordHash string // "" for none; on update, unchanged unless SetPassword
	SetPassword  bool
	// Language is the web app's language the user chose ("" : the
	// browser's); the caller checks it is one crmsync speaks.
	Language string
}

// TokenParams describes a new token.
type TokenParams struct {
	OrgID     int64
	UserID    int64
	Name      string
	Kind      crm.TokenKind
	Hash      []byte
	Prefix    string
	CreatedAt time.Time
	ExpiresAt *time.Time
	// UserAgent and ClientIP describe the client a session was signed in
	// from, for the user's list of sessions; empty for API tokens.
	UserAgent string
	ClientIP  string
}

// Credential is an encrypted secret.
type Credential struct {
	ID         string // chosen by the caller before sealing (it is bound in the AD)
	OrgID      int64
	Purpose    string // "imap_password", "oauth_token", ...
	Ciphertext []byte
	UpdatedAt  time.Time
}

// Page is one page of a list. NextCursor is "" on the last page.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// ListParams are common to every list: a text query, a page size and an
// opaque cursor returned by the previous page.
type ListParams struct {
	Q      string
	Limit  int
	Cursor string
}

// Limits on page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// UserFilter narrows a user list.
type UserFilter struct {
	ListParams
	Role      crm.Role
	ManagerID *int64
}

// CompanyFilter narrows a company list. Q matches name and domains.
type CompanyFilter struct {
	ListParams
	Domain  string
	OwnerID *int64
}

// ContactFilter narrows a contact list. Q matches names and emails.
type ContactFilter struct {
	ListParams
	Email     string
	CompanyID *int64
	OwnerID   *int64
	Lifecycle crm.Lifecycle
}

// OpportunityFilter narrows an opportunity list. Q matches the name.
type OpportunityFilter struct {
	ListParams
	CompanyID *int64
	ContactID *int64
	OwnerID   *int64
	Status    crm.OpportunityStatus
}

// ErrBadCursor is returned for a cursor this store did not issue.
var ErrBadCursor = errors.New("store: invalid cursor")
