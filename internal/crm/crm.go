// Package crm holds the domain types of crmsync — organisations, users and the
// CRM records emails are linked to — and the rules about them that do not
// depend on storage: validation and who may see what.
//
// Everything else imports crm; crm imports only the standard library.
package crm

import (
	"time"
)

// Role is a user's place in their organisation. It decides what they may see
// (see Viewer) and whether they may administer the organisation.
type Role string

const (
	RoleAdmin   Role = "admin"   // sees and manages the whole organisation
	RoleManager Role = "manager" // sees their own records and their reports', transitively
	RoleMember  Role = "member"  // sees the records they own
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleManager || r == RoleMember }

// Lifecycle is where a contact stands in the sales cycle.
type Lifecycle string

const (
	LifecycleLead         Lifecycle = "lead"
	LifecycleProspect     Lifecycle = "prospect"
	LifecycleCustomer     Lifecycle = "customer"
	LifecyclePastCustomer Lifecycle = "past_customer"
	LifecycleLost         Lifecycle = "lost"
)

// Lifecycles lists every lifecycle, in the order of the sales cycle.
var Lifecycles = []Lifecycle{LifecycleLead, LifecycleProspect, LifecycleCustomer, LifecyclePastCustomer, LifecycleLost}

// Valid reports whether l is a known lifecycle.
func (l Lifecycle) Valid() bool {
	for _, x := range Lifecycles {
		if l == x {
			return true
		}
	}
	return false
}

// OpportunityStatus is the outcome of an opportunity. Only open ones get new
// emails linked automatically.
type OpportunityStatus string

const (
	StatusOpen OpportunityStatus = "open"
	StatusWon  OpportunityStatus = "won"
	StatusLost OpportunityStatus = "lost"
)

// Valid reports whether s is a known status.
func (s OpportunityStatus) Valid() bool { return s == StatusOpen || s == StatusWon || s == StatusLost }

// Org is a tenant. Nothing of one organisation is ever visible to another.
type Org struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a person who signs in to crmsync and owns CRM records.
type User struct {
	ID        int64  `json:"id"`
	OrgID     int64  `json:"org_id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Role      Role   `json:"role"`
	ManagerID *int64 `json:"manager_id"`
	// Active is false for a user an admin deactivated (offboarding): they
	// cannot sign in and their tokens are refused, but what they did and
	// owned stays, so an admin can reactivate them.
	Active        bool       `json:"active"`
	DeactivatedAt *time.Time `json:"deactivated_at,omitempty"`
	// Language is the language of the web app the user chose (en, fr,
	// sv, it); "" lets the browser's Accept-Language decide.
	Language  string    `json:"language"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Company is an organisation the sales team deals with. Its domains are what
// emails are matched against when they are linked.
type Company struct {
	ID        int64     `json:"id"`
	OrgID     int64     `json:"org_id"`
	Name      string    `json:"name"`
	Domains   []string  `json:"domains"`
	OwnerID   int64     `json:"owner_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Contact is a person at (usually) a company. Any of their emails links a
// message to them.
type Contact struct {
	ID           int64             `json:"id"`
	OrgID        int64             `json:"org_id"`
	FirstName    string            `json:"first_name"`
	LastName     string            `json:"last_name"`
	Emails       []string          `json:"emails"`
	Phones       []string          `json:"phones"`
	CompanyID    *int64            `json:"company_id"`
	OwnerID      int64             `json:"owner_id"`
	Lifecycle    Lifecycle         `json:"lifecycle"`
	Title        string            `json:"title"`
	Address      PostalAddress     `json:"address"`
	Notes        string            `json:"notes"`
	Categories   []string          `json:"categories"`
	CustomFields map[string]string `json:"custom_fields"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// Opportunity is a deal in progress (open) or decided (won, lost).
type Opportunity struct {
	ID         int64             `json:"id"`
	OrgID      int64             `json:"org_id"`
	Name       string            `json:"name"`
	CompanyID  *int64            `json:"company_id"`
	ContactIDs []int64           `json:"contact_ids"`
	OwnerID    int64             `json:"owner_id"`
	Status     OpportunityStatus `json:"status"`
	Amount     *Decimal          `json:"amount"`
	Currency   string            `json:"currency"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// Token is an API or session token as shown to its owner. The secret itself
// is only ever returned once, when it is created; the store keeps a hash.
type Token struct {
	ID         int64      `json:"id"`
	OrgID      int64      `json:"-"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Kind       TokenKind  `json:"kind"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	// UserAgent and ClientIP: the client a session was signed in from.
	UserAgent string `json:"user_agent,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
}

// TokenKind tells long-lived API tokens, which count against the per-user
// limit, from short-lived session tokens issued at login.
type TokenKind string

const (
	TokenAPI     TokenKind = "api"
	TokenSession TokenKind = "session"
)

// MaxAPITokensPerUser is how many active API tokens a user may hold. Beyond
// it the user must revoke one: forgotten tokens are a liability, and the
// limit makes users notice them.
const MaxAPITokensPerUser = 10
