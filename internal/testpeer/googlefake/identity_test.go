package googlefake

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func setupIdentity(t *testing.T) (*Server, *oauth2.Config) {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	s.Identity.AddApp(App{ClientID: "cid", ClientSecret: "sec", RedirectURIs: []string{"http://app.test/cb"}})
	s.Identity.AddUser(User{Email: "ann@acme.test", HostedDomain: "acme.test"})
	return s, &oauth2.Config{ClientID: "cid", ClientSecret: "sec", RedirectURL: "http://app.test/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.AuthURL(), TokenURL: s.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "email", "https://www.googleapis.com/auth/gmail.modify"}}
}

// authorize plays the browser and returns the redirect back's query.
func authorize(t *testing.T, cfg *oauth2.Config, verifier string, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(cfg.AuthCodeURL("st", append(opts, oauth2.S256ChallengeOption(verifier))...))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "st" {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func grantError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestConsentRefreshAndRevocation(t *testing.T) {
	s, cfg := setupIdentity(t)
	ctx := context.Background()
	v := oauth2.GenerateVerifier()
	// First consent with offline access: a refresh token and an id_token.
	q := authorize(t, cfg, v, oauth2.AccessTypeOffline)
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption("wrong")); grantError(err) != "invalid_grant" {
		t.Errorf("wrong verifier: %v", err)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v))
	if err != nil || tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("exchange: %v %+v", err, tok)
	}
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v)); grantError(err) != "invalid_grant" {
		t.Errorf("code used twice: %v", err)
	}
	if !s.Identity.Valid(tok.AccessToken) {
		t.Error("access token not valid at the API")
	}
	// A later consent without prompt=consent gives no refresh token; with
	// it, a new one.
	q = authorize(t, cfg, v, oauth2.AccessTypeOffline)
	if again, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v)); err != nil || again.RefreshToken != "" {
		t.Errorf("returning consent: %v, refresh token %v", err, again.RefreshToken != "")
	}
	q = authorize(t, cfg, v, oauth2.AccessTypeOffline, oauth2.ApprovalForce)
	if again, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v)); err != nil || again.RefreshToken == "" || again.RefreshToken == tok.RefreshToken {
		t.Errorf("forced consent: %v", err)
	}
	// A refresh carries no new refresh token.
	fresh, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken != tok.RefreshToken || s.Identity.Grants("refresh_token") != 1 {
		t.Fatalf("refresh: %v", err)
	}
	// Revoked: invalid_grant, and the access tokens stop working.
	s.Identity.Revoke("ann@acme.test")
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); grantError(err) != "invalid_grant" {
		t.Errorf("revoked: %v", err)
	}
	if s.Identity.Valid(fresh.AccessToken) {
		t.Error("a revoked access token still works")
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	s, cfg := setupIdentity(t)
	v := oauth2.GenerateVerifier()
	s.Identity.DenyConsent(true)
	if q := authorize(t, cfg, v); q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Errorf("denied: %v", q)
	}
	s.Identity.DenyConsent(false)
	s.Identity.BlockDomain("acme.test", true)
	if q := authorize(t, cfg, v); q.Get("error") != "admin_policy_enforced" {
		t.Errorf("domain policy: %v", q)
	}
	// A redirect URI not registered is never redirected to.
	bad := *cfg
	bad.RedirectURL = "http://evil.test/cb"
	resp, err := http.Get(bad.AuthCodeURL("st", oauth2.S256ChallengeOption(v)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unregistered redirect: %d", resp.StatusCode)
	}
	// userinfo needs a live token.
	req, _ := http.NewRequest("GET", s.URL+"/oauth2/v3/userinfo", nil)
	req.Header.Set("Authorization", "Bearer nope")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("userinfo without a token: %d", resp.StatusCode)
	}
}

func TestCodesAndAccessTokensExpire(t *testing.T) {
	s, cfg := setupIdentity(t)
	now := time.Now()
	s.Identity.SetClock(func() time.Time { return now })
	v := oauth2.GenerateVerifier()
	q := authorize(t, cfg, v, oauth2.AccessTypeOffline)
	now = now.Add(CodeLifetime)
	if _, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(v)); grantError(err) != "invalid_grant" {
		t.Errorf("expired code: %v", err)
	}
	q = authorize(t, cfg, v, oauth2.AccessTypeOffline, oauth2.ApprovalForce)
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(v))
	if err != nil || !s.Identity.Valid(tok.AccessToken) {
		t.Fatalf("exchange: %v", err)
	}
	now = now.Add(AccessLifetime)
	if s.Identity.Valid(tok.AccessToken) {
		t.Error("an expired access token still works")
	}
}
