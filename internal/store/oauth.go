package store

import (
	"context"
	"time"
)

// OAuth keeps what signing in with a provider needs between requests: the
// organisation's registered app per provider, and the pending sign-ins
// (their state), so that a state is used once across every process sharing
// the database.
type OAuth interface {
	// OAuthApp returns the organisation's app for provider, nil if none.
	OAuthApp(ctx context.Context, orgID int64, provider string) (*OAuthApp, error)
	// PutOAuthApp creates or replaces the organisation's app.
	PutOAuthApp(ctx context.Context, a OAuthApp) error
	// DeleteOAuthApp removes it; ErrNotFound if there is none.
	DeleteOAuthApp(ctx context.Context, orgID int64, provider string) error
	// PutOAuthState records a pending sign-in, and forgets those expired
	// before now.
	PutOAuthState(ctx context.Context, s OAuthState, now time.Time) error
	// TakeOAuthState returns the pending sign-in and deletes it in the
	// same statement, so two redirects with the same state cannot both
	// have it: the second gets ErrNotFound. Expiry is the caller's
	// check (its clock).
	TakeOAuthState(ctx context.Context, stateHash string) (OAuthState, error)
	// IdleTokenSets lists up to limit token sets of connected mailboxes
	// signed in with a provider that were last written (signed in or
	// refreshed) before cutoff, oldest first: those a provider may let
	// lapse for inactivity. Mailboxes whose sign-in already failed
	// (auth_failed) are left out: only signing in again helps them.
	IdleTokenSets(ctx context.Context, cutoff time.Time, limit int) ([]TokenSetRef, error)
}

// TokenSetRef names a stored token set and the provider that issued it.
type TokenSetRef struct {
	OrgID        int64
	Provider     string
	CredentialID string
	UpdatedAt    time.Time
}

// OAuthApp is an organisation's app registered with a provider. The
// client secret is the credential CredentialID, sealed. Tenant, LoginURL
// and GraphURL are Microsoft's settings; another provider keeps its own in
// them (Google: token_url, auth_url, api_url), as oauth.Provider.Settings
// says.
type OAuthApp struct {
	OrgID        int64
	Provider     string // "microsoft", "google"
	ClientID     string
	Tenant       string
	LoginURL     string
	GraphURL     string
	CredentialID string
	UpdatedAt    time.Time
}

// OAuthState is a sign-in between its start and the provider's redirect
// back.
type OAuthState struct {
	StateHash string // hex SHA-256 of the state the browser carries
	OrgID     int64
	UserID    int64
	Provider  string
	Services  []string
	Mode      string
	Verifier  []byte // the PKCE verifier, sealed
	ExpiresAt time.Time
}
