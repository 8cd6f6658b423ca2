package graphfake

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// authorize plays the browser: the code the fake redirects back with.
func authorize(t *testing.T, s *Server, cfg *oauth2.Config, verifier string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %q", resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func TestPKCEAndSingleUseCodes(t *testing.T) {
	s := New()
	defer s.Close()
	s.Identity.AddApp(App{ClientID: "c", ClientSecret: "s", RedirectURI: "http://127.0.0.1/cb"})
	s.Identity.AddUser(User{Email: "ann@acme.test"})
	cfg := &oauth2.Config{ClientID: "c", ClientSecret: "s", RedirectURL: "http://127.0.0.1/cb",
		Scopes:   []string{"openid", "offline_access", "Mail.ReadWrite"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/organizations/oauth2/v2.0/authorize", TokenURL: s.URL + "/organizations/oauth2/v2.0/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()

	code := authorize(t, s, cfg, verifier)
	_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(re.ErrorDescription, "AADSTS501481") {
		t.Fatalf("a wrong verifier: %v", err)
	}
	code = authorize(t, s, cfg, verifier)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !errors.As(err, &re) || !strings.Contains(re.ErrorDescription, "AADSTS54005") {
		t.Fatalf("a code used twice: %v", err)
	}
	// Rotation: a new refresh token each time; the old one still works
	// until revoked (reference §2.4).
	next, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("the previous refresh token: %v", err)
	}
	s.Identity.Revoke("ann@acme.test")
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(string(re.Body), "50173") {
		t.Fatalf("revoked: %v", err)
	}
}
