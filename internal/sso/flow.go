package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// Scopes asked of the provider: who (openid) and their email.
var Scopes = []string{oidc.ScopeOpenID, "email", "profile"}

// Started is a sign-in on its way to the provider: the browser is sent to
// URL, and keeps State (the web app puts it in a cookie, so that only the
// browser that started a sign-in can finish it).
type Started struct {
	URL   string
	State string
}

// Start begins a sign-in with the organisation's provider; next is the
// page of the app to go on to afterwards (the caller has checked it is
// one).
func (s *Service) Start(ctx context.Context, orgID int64, next string) (Started, error) {
	p, err := s.st.SSOProvider(ctx, orgID)
	if err != nil {
		return Started{}, err
	}
	if p == nil {
		return Started{}, errNotConfigured
	}
	op, err := s.discover(ctx, p.Issuer)
	if err != nil {
		return Started{}, err
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	h := hash(state)
	sealed, err := s.keys.Seal([]byte(verifier), stateAD(h))
	if err != nil {
		return Started{}, err
	}
	now := s.now()
	if err := s.st.PutSSOState(ctx, store.SSOState{StateHash: h, OrgID: orgID, Verifier: sealed, NonceHash: hash(nonce),
		Next: next, ExpiresAt: now.Add(StateLifetime)}, now); err != nil {
		return Started{}, err
	}
	cfg := s.oauthConfig(op, p.ClientID, "")
	u := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	return Started{URL: u, State: state}, nil
}

// StartForEmail begins a sign-in with the provider of the organisation
// the email belongs to (the sign-in page's "email first", on a server
// with several organisations). An unknown email and one whose
// organisation has no single sign-on get the same answer; the email
// only routes: who signs in is what the provider says at the end.
func (s *Service) StartForEmail(ctx context.Context, email, next string) (Started, error) {
	u, _, err := s.st.UserForLogin(ctx, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, store.ErrNotFound) {
		return Started{}, errNoSSOForEmail
	}
	if err != nil {
		return Started{}, err
	}
	started, err := s.Start(ctx, u.OrgID, next)
	var e *Error
	if errors.As(err, &e) && e.Code == CodeNotConfigured {
		return Started{}, errNoSSOForEmail
	}
	return started, err
}

var errNoSSOForEmail = &Error{Code: CodeNotConfigured, Field: "email",
	Message: "Single sign-on is not set up for this address: sign in with your password, or ask your admin."}

// Result is a finished sign-in: the crmsync user the provider vouched
// for, and the page to go on to.
type Result struct {
	User crm.User
	Next string
}

// Finish handles the provider's redirect back (its query parameters).
// bound is the state the browser kept at Start (the web app's cookie): a
// redirect carried by another browser is refused. It takes the state
// (once), redeems the code with the PKCE verifier, verifies the ID token
// (signature, issuer, audience, expiry, nonce), and finds the active user
// of the organisation with the provider's verified email. Refusals are
// *Error; failures reaching the provider are *connerr.Error.
func (s *Service) Finish(ctx context.Context, q url.Values, bound string) (Result, error) {
	state := q.Get("state")
	if state == "" || bound == "" || subtle.ConstantTimeCompare([]byte(state), []byte(bound)) != 1 {
		return Result{}, errStateInvalid
	}
	st, err := s.st.TakeSSOState(ctx, hash(state))
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, errStateInvalid
	}
	if err != nil {
		return Result{}, err
	}
	if s.now().After(st.ExpiresAt) {
		return Result{}, errStateInvalid
	}
	if e := q.Get("error"); e != "" {
		return Result{}, &Error{Code: CodeDenied,
			Message: fmt.Sprintf("The identity provider did not sign you in (%s): try again, or ask your admin.", e)}
	}
	code := q.Get("code")
	if code == "" {
		return Result{}, &Error{Code: CodeDenied, Message: "The identity provider sent no authorization code: start signing in again."}
	}
	p, err := s.st.SSOProvider(ctx, st.OrgID)
	if err != nil {
		return Result{}, err
	}
	if p == nil {
		return Result{}, errNotConfigured
	}
	clientSecret, err := s.clientSecret(ctx, *p)
	if err != nil {
		return Result{}, err
	}
	verifier, err := s.keys.Open(st.Verifier, stateAD(st.StateHash))
	if err != nil {
		return Result{}, fmt.Errorf("sso: opening the sign-in's verifier: %w", err)
	}
	op, err := s.discover(ctx, p.Issuer)
	if err != nil {
		return Result{}, err
	}
	ctx = s.clientContext(ctx)
	tok, err := s.oauthConfig(op, p.ClientID, clientSecret).Exchange(ctx, code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		if ce := connerr.As(err); ce != nil {
			return Result{}, ce
		}
		return Result{}, tokenInvalid("the provider refused the authorization code: %v", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Result{}, tokenInvalid("the provider sent no ID token")
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: p.ClientID, Now: s.now}).Verify(ctx, raw)
	if err != nil {
		return Result{}, tokenInvalid("%v", err)
	}
	if subtle.ConstantTimeCompare([]byte(hash(idt.Nonce)), []byte(st.NonceHash)) != 1 {
		return Result{}, tokenInvalid("the ID token's nonce is not this sign-in's")
	}
	email, verified, err := s.email(ctx, op, tok, idt)
	if err != nil {
		return Result{}, err
	}
	if email == "" || !verified {
		return Result{}, errUnverified
	}
	u, _, err := s.st.UserForLogin(ctx, email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.OrgID != st.OrgID) {
		return Result{}, notMember(email)
	}
	if err != nil {
		return Result{}, err
	}
	if !u.Active {
		return Result{}, errDeactivated
	}
	return Result{User: u, Next: st.Next}, nil
}

// email is who the provider says signed in: the ID token's email claims,
// or, when the provider keeps them to its userinfo endpoint, that
// endpoint's answer for the same subject.
func (s *Service) email(ctx context.Context, op *oidc.Provider, tok *oauth2.Token, idt *oidc.IDToken) (string, bool, error) {
	var c struct {
		Email    string `json:"email"`
		Verified any    `json:"email_verified"`
	}
	if err := idt.Claims(&c); err != nil {
		return "", false, tokenInvalid("reading the ID token's claims: %v", err)
	}
	if c.Email != "" {
		return strings.ToLower(c.Email), c.Verified == true || c.Verified == "true", nil
	}
	ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		if ce := connerr.As(err); ce != nil {
			return "", false, ce
		}
		return "", false, tokenInvalid("reading who signed in from the provider's userinfo endpoint: %v", err)
	}
	if ui.Subject != idt.Subject {
		return "", false, tokenInvalid("the userinfo endpoint answered for another subject")
	}
	return strings.ToLower(ui.Email), ui.EmailVerified, nil
}

func tokenInvalid(format string, args ...any) *Error {
	return &Error{Code: CodeTokenInvalid,
		Message: "The identity provider's answer could not be verified (" + fmt.Sprintf(format, args...) + "): start signing in again, or ask your admin to check the configuration."}
}

func (s *Service) oauthConfig(op *oidc.Provider, clientID, clientSecret string) *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: op.Endpoint(),
		RedirectURL: s.RedirectURI(), Scopes: Scopes}
}

// clientSecret opens the organisation's sealed client secret.
func (s *Service) clientSecret(ctx context.Context, p store.SSOProvider) (string, error) {
	cred, err := s.st.GetCredential(ctx, p.OrgID, p.CredentialID)
	if err != nil {
		return "", fmt.Errorf("sso: the client secret: %w", err)
	}
	pt, err := s.keys.Open(cred.Ciphertext, secret.CredentialAD(cred.ID))
	if err != nil {
		return "", fmt.Errorf("sso: opening the client secret: %w", err)
	}
	return string(pt), nil
}

func hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// stateAD binds a sealed verifier to its state.
func stateAD(h string) []byte { return secret.CredentialAD("sso_state:" + h) }
