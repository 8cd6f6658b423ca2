// Package access changes a user's ways in — a new API token, a new
// password — the same way whoever asks: the REST API (a user or their
// admin) or the command line (whoever holds the server, when nobody can
// sign in any more). Keeping it in one place keeps the rules from
// drifting apart: a new password always ends the sessions signed in with
// the old one, and an API token is always counted against the limit.
package access

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// Store is what this package needs of the database.
type Store interface {
	store.Tokens
	UpdateUser(ctx context.Context, orgID, id int64, apply func(*store.UserParams) error) (crm.User, error)
}

// MaxTokenName is the longest token name, in characters.
const MaxTokenName = 100

// IssuedToken is a new API token: its row, and its secret, which exists
// only here — the database keeps its hash — so it is shown once.
type IssuedToken struct {
	crm.Token
	Secret string
}

// IssueAPIToken makes a new API token named name for u. A user with
// crm.MaxAPITokensPerUser active ones gets store.ErrTokenLimit.
func IssueAPIToken(ctx context.Context, st Store, u crm.User, name string, now time.Time) (IssuedToken, error) {
	secret, prefix, hash := auth.NewToken()
	tok, err := st.CreateToken(ctx, store.TokenParams{
		OrgID:     u.OrgID,
		UserID:    u.ID,
		Name:      name,
		Kind:      crm.TokenAPI,
		Hash:      hash,
		Prefix:    prefix,
		CreatedAt: now,
	})
	if err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{Token: tok, Secret: secret}, nil
}

// PasswordChange is what a new password ended and what it kept.
type PasswordChange struct {
	SessionsEnded int64
	// APITokens still work: they are app passwords, made on purpose and
	// listed, and integrations would break; the user revokes those they
	// no longer trust.
	APITokens []crm.Token
}

// SetPassword stores hash (from auth.HashPassword) as the password of the
// user orgID/userID and ends their sessions: see EndSessions.
func SetPassword(ctx context.Context, st Store, orgID, userID int64, hash string, keep int64, now time.Time) (crm.User, PasswordChange, error) {
	u, err := st.UpdateUser(ctx, orgID, userID, func(p *store.UserParams) error {
		p.PasswordHash, p.SetPassword = hash, true
		return nil
	})
	if err != nil {
		return u, PasswordChange{}, err
	}
	pc, err := EndSessions(ctx, st, u, keep, now)
	return u, pc, err
}

// EndSessions is what follows a password change: every session of u ends
// at once but keep (the session making the change, when users change
// their own; 0 for none), so that whoever signed in with the old password
// — a stolen laptop, a guessed password — is out. It lists the API tokens
// that still work.
func EndSessions(ctx context.Context, st Store, u crm.User, keep int64, now time.Time) (PasswordChange, error) {
	n, err := st.RevokeUserTokens(ctx, u.OrgID, u.ID, crm.TokenSession, keep, now)
	if err != nil {
		return PasswordChange{}, err
	}
	tokens, err := st.ListTokens(ctx, u.OrgID, u.ID, crm.TokenAPI, now)
	if err != nil {
		return PasswordChange{}, err
	}
	return PasswordChange{SessionsEnded: n, APITokens: tokens}, nil
}
