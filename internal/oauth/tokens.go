package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// RefreshMargin is how long before its expiry an access token is
// refreshed, so a request never leaves with one about to lapse.
const RefreshMargin = 5 * time.Minute

// tokenSet is what a credential of purpose "oauth_token" holds, sealed.
type tokenSet struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry"`
	Scope        string    `json:"scope,omitempty"`
}

func (t tokenSet) token() *oauth2.Token {
	return &oauth2.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType, Expiry: t.Expiry}
}

// tokenSet reads an answer; expiry is counted on the service's clock from
// expires_in, and a refresh answer without a refresh token keeps oldRT.
func (s *Service) tokenSet(tok *oauth2.Token, oldRT string) tokenSet {
	t := tokenSet{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Expiry: tok.Expiry}
	if t.RefreshToken == "" {
		t.RefreshToken = oldRT
	}
	if secs, ok := number(tok.Extra("expires_in")); ok {
		t.Expiry = s.now().Add(time.Duration(secs) * time.Second)
	}
	if sc, ok := tok.Extra("scope").(string); ok {
		t.Scope = sc
	}
	return t
}

func number(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (s *Service) sealTokenSet(credID string, t tokenSet) ([]byte, error) {
	pt, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return s.keys.Seal(pt, secret.CredentialAD(credID))
}

func (s *Service) putTokenSet(ctx context.Context, orgID int64, credID string, t tokenSet) error {
	ct, err := s.sealTokenSet(credID, t)
	if err != nil {
		return err
	}
	return s.st.PutCredential(ctx, store.Credential{ID: credID, OrgID: orgID, Purpose: "oauth_token", Ciphertext: ct})
}

func (s *Service) loadTokenSet(ctx context.Context, orgID int64, credID string) (tokenSet, []byte, error) {
	var t tokenSet
	cred, err := s.st.GetCredential(ctx, orgID, credID)
	if err != nil {
		return t, nil, fmt.Errorf("oauth: token set: %w", err)
	}
	pt, err := s.keys.Open(cred.Ciphertext, secret.CredentialAD(cred.ID))
	if err != nil {
		return t, nil, fmt.Errorf("oauth: opening the token set: %w", err)
	}
	if err := json.Unmarshal(pt, &t); err != nil {
		return t, nil, fmt.Errorf("oauth: reading the token set: %w", err)
	}
	return t, cred.Ciphertext, nil
}

// TokenSource returns a source of access tokens for the token set in
// credential credentialID, for a connector. It refreshes RefreshMargin
// before expiry and persists the answer, rotated refresh token included,
// by compare-and-swap on the sealed row: when another process refreshed
// first, its token set is used. A refusal by the provider is a
// *connerr.Error (auth_failed: "Sign in to … again"). ctx bounds every
// request the source makes, as with oauth2.Config.TokenSource.
func (s *Service) TokenSource(ctx context.Context, orgID int64, provider, credentialID string) (oauth2.TokenSource, error) {
	p, err := s.provider(provider)
	if err != nil {
		return nil, err
	}
	return &source{s: s, p: p, ctx: ctx, orgID: orgID, credID: credentialID}, nil
}

type source struct {
	s      *Service
	p      Provider
	ctx    context.Context
	orgID  int64
	credID string
	mu     sync.Mutex // one refresh at a time in this process
}

func (t *source) fresh(set tokenSet) bool {
	return set.AccessToken != "" && t.s.now().Add(RefreshMargin).Before(set.Expiry)
}

// Token returns a valid access token, refreshing it when due.
func (t *source) Token() (*oauth2.Token, error) { return t.token("") }

// Stale returns an access token other than stale, one the provider
// refused before its expiry (revoked sessions, changed policies): the
// stored one when another process refreshed it meanwhile, else a refresh.
func (t *source) Stale(stale string) (*oauth2.Token, error) { return t.token(stale) }

func (t *source) token(stale string) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set, old, err := t.s.loadTokenSet(t.ctx, t.orgID, t.credID)
	if err != nil {
		return nil, err
	}
	if t.fresh(set) && (stale == "" || set.AccessToken != stale) {
		return set.token(), nil
	}
	a, err := t.s.app(t.ctx, t.orgID, t.p)
	if err != nil {
		return nil, err
	}
	cfg := t.s.config(t.p, a)
	tok, err := cfg.TokenSource(t.s.clientContext(t.ctx), &oauth2.Token{RefreshToken: set.RefreshToken}).Token()
	if err != nil {
		return nil, t.p.Classify(err, hostOf(cfg.Endpoint.TokenURL))
	}
	next := t.s.tokenSet(tok, set.RefreshToken)
	ct, err := t.s.sealTokenSet(t.credID, next)
	if err != nil {
		return nil, err
	}
	switch err := t.s.st.ReplaceCiphertext(t.ctx, t.credID, old, ct); {
	case errors.Is(err, store.ErrStale):
		// Another process refreshed (or key rotation re-sealed) meanwhile:
		// its row wins; ours is discarded (the provider keeps the
		// previous refresh token valid, §2.4).
		if again, _, lerr := t.s.loadTokenSet(t.ctx, t.orgID, t.credID); lerr == nil && t.fresh(again) && again.AccessToken != stale {
			return again.token(), nil
		}
		return nil, fmt.Errorf("oauth: the token set changed while refreshing; try again")
	case err != nil:
		return nil, err
	}
	return next.token(), nil
}

// Refresh redeems the refresh token of a token set now, whether or not
// its access token is due, and stores the answer as Token does. A
// provider lets a refresh token lapse when it is not used for a while
// (Microsoft: reference §2.4); refreshing an idle set keeps it alive.
func (s *Service) Refresh(ctx context.Context, orgID int64, provider, credentialID string) error {
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	set, _, err := s.loadTokenSet(ctx, orgID, credentialID)
	if err != nil {
		return err
	}
	t := &source{s: s, p: p, ctx: ctx, orgID: orgID, credID: credentialID}
	_, err = t.Stale(set.AccessToken) // the stored token counts as used up: a refresh
	return err
}
