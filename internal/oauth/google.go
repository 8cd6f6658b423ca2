package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/google"
)

// Google defaults (reference §3).
const (
	GoogleAuthURL  = "https://accounts.google.com/o/oauth2/auth"
	GoogleTokenURL = "https://oauth2.googleapis.com/token"
)

// Google is Google's OAuth 2.0 with its APIs (Gmail, People, Calendar,
// Tasks) under one root. Its three settings are kept in the columns
// named for Microsoft (Settings): token_url in tenant, auth_url in
// login_url, api_url in graph_url.
type Google struct{}

func (Google) Name() string    { return "google" }
func (Google) Display() string { return "Google" }

func (Google) Settings() [3]Setting {
	return [3]Setting{
		{"token_url", func(a *App) *string { return &a.TokenURL }},
		{"auth_url", func(a *App) *string { return &a.AuthURL }},
		{"api_url", func(a *App) *string { return &a.APIURL }},
	}
}

func (Google) Defaults(a *App) {
	if a.AuthURL == "" {
		a.AuthURL = GoogleAuthURL
	}
	if a.TokenURL == "" {
		a.TokenURL = GoogleTokenURL
	}
	if a.APIURL == "" {
		a.APIURL = google.DefaultAPIURL
	}
}

func (g Google) Check(a *App) error {
	ss := g.Settings()
	return urlSettings(a, ss[1], ss[0], ss[2]) // in the order the API lists them
}

func (Google) Endpoint(a App) oauth2.Endpoint {
	// Google documents the secret in the body; saying so spares x/oauth2's
	// probing of both styles.
	return oauth2.Endpoint{AuthURL: a.AuthURL, TokenURL: a.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
}

const googleScope = "https://www.googleapis.com/auth/"

// googleScopes are the scopes per service (§3): Gmail's modify (read,
// labels, flags) and send; contacts and contact groups; every calendar
// (the user picks one); tasks.
var googleScopes = map[string][]string{
	"mail":     {googleScope + "gmail.modify", googleScope + "gmail.send"},
	"contacts": {googleScope + "contacts"},
	"calendar": {googleScope + "calendar"},
	"tasks":    {googleScope + "tasks"},
}

func (Google) Scopes(services []string) ([]string, error) {
	return scopesFor([]string{"openid", "email"}, googleScopes, services)
}

// AuthOptions: a refresh token comes only with access_type=offline, and
// Google gives one only on the first consent unless prompt=consent forces
// it again (§3); a returning user (whose refresh token crmsync holds)
// is not asked again, and Finish keeps the refresh token held. A user
// whose sign-in failed (auth_failed) or who has none is asked again.
// include_granted_scopes keeps what was granted before, so services are
// added one sign-in at a time.
func (Google) AuthOptions(returning bool) []oauth2.AuthCodeOption {
	opts := []oauth2.AuthCodeOption{oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("include_granted_scopes", "true")}
	if !returning {
		opts = append(opts, oauth2.ApprovalForce)
	}
	return opts
}

// Identify takes the address from the id_token (openid email), else
// from the OpenID userinfo under the app's api_url. An address Google
// says it has not verified is refused: it could be anyone's.
func (g Google) Identify(ctx context.Context, c *http.Client, a App, tok *oauth2.Token) (Identity, error) {
	var claims idClaims
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		var err error
		if claims, err = jwtClaims(raw); err != nil {
			return Identity{}, connerr.New(connerr.Protocol, "Google's sign-in answer could not be read; try again.", err)
		}
	}
	if claims.Email == "" {
		status, err := getJSON(ctx, c, strings.TrimSuffix(a.APIURL, "/")+"/oauth2/v3/userinfo", tok, "Google", &claims)
		if err != nil {
			return Identity{}, err
		}
		if status != http.StatusOK {
			return Identity{}, connerr.New(connerr.Protocol, "Google did not say who signed in; try again.", fmt.Errorf("userinfo: status %d", status))
		}
	}
	if claims.Email == "" {
		return Identity{}, connerr.New(connerr.Protocol, "Google did not say which address signed in; try again.", errors.New("no email"))
	}
	if claims.unverified() {
		return Identity{}, &Error{Code: CodeDenied, Message: "Google has not verified this account's address, so crmsync cannot tell whose mailbox it is: verify it with Google, then start again."}
	}
	return Identity{Email: strings.ToLower(claims.Email)}, nil
}

// policyBlocked is a Google Workspace administrator's policy refusing the
// app (admin_policy_enforced). Google also tells the user by mail when it
// blocks a sign-in from an app it does not know.
func policyBlocked(server string, err error) *connerr.Error {
	return &connerr.Error{Kind: connerr.Blocked, Server: server, Err: err,
		Message: "Your Google Workspace administrator does not allow crmsync to reach this account. Ask them to allow the app (Admin console, Security, API controls), and look in your inbox for a message from Google about a blocked sign-in: follow its instructions, then sign in to Google again. Meanwhile, connect this mailbox in forwarding mode."}
}

// AuthorizeError: admin_policy_enforced is a Workspace policy refusing
// the app.
func (Google) AuthorizeError(code, _ string) error {
	if code == "admin_policy_enforced" {
		return policyBlocked("", errors.New("authorize: admin_policy_enforced"))
	}
	return nil
}

// Classify maps the token endpoint's error (§3): a dead refresh token
// (invalid_grant: revoked, unused, password changed, too many tokens) is
// auth_failed "Sign in to Google again"; the app's registration is the
// admin's (provider_blocked), as is a Workspace policy.
func (Google) Classify(err error, server string) error {
	return classifyToken(err, server, "Google", func(re *oauth2.RetrieveError) (connerr.Kind, string) {
		switch re.ErrorCode {
		case "invalid_grant":
			return connerr.Auth, google.SignInAgain(server, nil).Message
		case "admin_policy_enforced":
			return connerr.Blocked, policyBlocked(server, nil).Message
		case "invalid_client", "unauthorized_client":
			return connerr.Blocked, "Google does not accept the organisation's app: an admin must check its client id and secret in the organisation's settings."
		}
		return "", ""
	})
}
