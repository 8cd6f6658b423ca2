package store

import (
	"context"
	"time"
)

// SSO keeps single sign-on (OpenID Connect): each organisation's identity
// provider, and the sign-ins between their start and the provider's
// redirect back (their state), so that a state is used once across every
// process sharing the database.
type SSO interface {
	// SSOProvider returns the organisation's provider, nil if none.
	SSOProvider(ctx context.Context, orgID int64) (*SSOProvider, error)
	// PutSSOProvider creates or replaces the organisation's provider.
	PutSSOProvider(ctx context.Context, p SSOProvider) error
	// DeleteSSOProvider removes it; ErrNotFound if there is none.
	DeleteSSOProvider(ctx context.Context, orgID int64) error
	// SSOSignInChoices is what the sign-in page may offer before it knows
	// who signs in: how many organisations the server has, and up to
	// limit configured providers (by organisation id).
	SSOSignInChoices(ctx context.Context, limit int) (orgs int, providers []SSOProvider, err error)
	// PutSSOState records a sign-in in progress, and forgets those
	// expired before now.
	PutSSOState(ctx context.Context, s SSOState, now time.Time) error
	// TakeSSOState returns the sign-in and deletes it in the same
	// statement: a second redirect with the same state gets ErrNotFound.
	// Expiry is the caller's check (its clock).
	TakeSSOState(ctx context.Context, stateHash string) (SSOState, error)
}

// SSOProvider is an organisation's OpenID Connect provider. The client
// secret is the credential CredentialID, sealed.
type SSOProvider struct {
	OrgID        int64
	Name         string // shown on the sign-in button: "Sign in with <Name>"
	Issuer       string
	ClientID     string
	CredentialID string
	UpdatedAt    time.Time
}

// SSOState is a single sign-on between its start and the provider's
// redirect back.
type SSOState struct {
	StateHash string // hex SHA-256 of the state the browser carries
	OrgID     int64
	Verifier  []byte // the PKCE verifier, sealed
	NonceHash string // hex SHA-256 of the nonce the ID token must carry
	Next      string // the page of the app to go on to
	ExpiresAt time.Time
}
