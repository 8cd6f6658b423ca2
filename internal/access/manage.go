package access

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// What a user manages of their own ways in, from the REST API
// (/api/v1/tokens, /api/v1/sessions) and the web app's security page
// alike: app passwords (API tokens) and sign-in sessions.

// The refusals of a token name, for errors.Is.
var (
	ErrTokenNameRequired = errors.New("access: a token needs a name")
	ErrTokenNameTooLong  = errors.New("access: the token name is too long")
)

// TokenName checks and trims the name of a new API token: it is
// required (so the user knows which to revoke later) and at most
// MaxTokenName characters.
func TokenName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", ErrTokenNameRequired
	case utf8.RuneCountInString(name) > MaxTokenName:
		return "", ErrTokenNameTooLong
	}
	return name, nil
}

// APITokens lists u's active API tokens, oldest first.
func APITokens(ctx context.Context, st Store, u crm.User, now time.Time) ([]crm.Token, error) {
	return st.ListTokens(ctx, u.OrgID, u.ID, crm.TokenAPI, now)
}

// RevokeAPIToken revokes one of u's API tokens; store.ErrNotFound when id
// is not one of theirs.
func RevokeAPIToken(ctx context.Context, st Store, u crm.User, id int64, now time.Time) error {
	return st.RevokeToken(ctx, u.OrgID, u.ID, id, now)
}

// Sessions lists u's active sign-in sessions, oldest first.
func Sessions(ctx context.Context, st Store, u crm.User, now time.Time) ([]crm.Token, error) {
	return st.ListTokens(ctx, u.OrgID, u.ID, crm.TokenSession, now)
}

// EndSession ends one of u's sessions. An id that is not one of their
// active sessions — another user's, an API token's, one already ended —
// is store.ErrNotFound, so that ids reveal nothing.
func EndSession(ctx context.Context, st Store, u crm.User, id int64, now time.Time) error {
	toks, err := Sessions(ctx, st, u, now)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(toks, func(t crm.Token) bool { return t.ID == id }) {
		return store.ErrNotFound
	}
	return st.RevokeToken(ctx, u.OrgID, u.ID, id, now)
}

// SignOutEverywhere ends every session of u but keep (0: none) and says
// how many ended. API tokens keep working: signing out everywhere must
// not break the user's integrations.
func SignOutEverywhere(ctx context.Context, st Store, u crm.User, keep int64, now time.Time) (int64, error) {
	return st.RevokeUserTokens(ctx, u.OrgID, u.ID, crm.TokenSession, keep, now)
}
