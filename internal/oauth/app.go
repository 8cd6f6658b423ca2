package oauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// AppInput is an admin's registration of the organisation's app. An empty
// ClientSecret keeps the one stored (it is required the first time). The
// other settings are the provider's (Provider.Settings): Tenant, LoginURL
// and GraphURL for Microsoft; AuthURL, TokenURL and APIURL for Google.
type AppInput struct {
	ClientID     string
	ClientSecret string
	Tenant       string
	LoginURL     string
	GraphURL     string
	AuthURL      string
	TokenURL     string
	APIURL       string
}

// AppView is the app as shown: never its secret. RedirectURI is what the
// admin registers with the provider. Only the provider's own settings
// are set.
type AppView struct {
	Provider    string    `json:"provider"`
	ClientID    string    `json:"client_id"`
	Tenant      string    `json:"tenant,omitempty"`
	LoginURL    string    `json:"login_url,omitempty"`
	GraphURL    string    `json:"graph_url,omitempty"`
	AuthURL     string    `json:"auth_url,omitempty"`
	TokenURL    string    `json:"token_url,omitempty"`
	APIURL      string    `json:"api_url,omitempty"`
	RedirectURI string    `json:"redirect_uri"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func (a App) view() AppView {
	return AppView{ClientID: a.ClientID, Tenant: a.Tenant, LoginURL: a.LoginURL, GraphURL: a.GraphURL,
		AuthURL: a.AuthURL, TokenURL: a.TokenURL, APIURL: a.APIURL}
}

// settings are every provider's settings by name, as an input has them.
func (in AppInput) settings() (App, map[string]string) {
	a := App{ClientID: strings.TrimSpace(in.ClientID), ClientSecret: in.ClientSecret}
	return a, map[string]string{"tenant": in.Tenant, "login_url": in.LoginURL, "graph_url": in.GraphURL,
		"auth_url": in.AuthURL, "token_url": in.TokenURL, "api_url": in.APIURL}
}

// appCredentialID is the credential holding an app's secret: one per
// organisation and provider, replaced in place.
func appCredentialID(orgID int64, provider string) string {
	return fmt.Sprintf("oauthapp-%d-%s", orgID, provider)
}

// SetApp validates and saves the organisation's app, sealing its secret.
// A setting of another provider is refused. The caller has checked that
// the viewer may (admins only).
func (s *Service) SetApp(ctx context.Context, orgID int64, provider string, in AppInput) (AppView, error) {
	p, err := s.provider(provider)
	if err != nil {
		return AppView{}, err
	}
	a, given := in.settings()
	for _, st := range p.Settings() {
		*st.Field(&a) = strings.TrimSpace(given[st.Name])
		delete(given, st.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if strings.TrimSpace(given[name]) != "" {
			return AppView{}, fieldError(CodeInvalid, name, "%s is not a setting of the %s app: leave it out.", name, p.Display())
		}
	}
	p.Defaults(&a)
	if a.ClientID == "" {
		return AppView{}, fieldError(CodeRequired, "client_id", "client_id is required: the client id of the app registered with %s.", p.Display())
	}
	if err := p.Check(&a); err != nil {
		return AppView{}, err
	}
	credID := appCredentialID(orgID, p.Name())
	old, err := s.st.OAuthApp(ctx, orgID, p.Name())
	if err != nil {
		return AppView{}, err
	}
	if a.ClientSecret == "" && old == nil {
		return AppView{}, fieldError(CodeRequired, "client_secret", "client_secret is required: a client secret of the app registered with %s.", p.Display())
	}
	if a.ClientSecret != "" {
		ct, err := s.keys.Seal([]byte(a.ClientSecret), secret.CredentialAD(credID))
		if err != nil {
			return AppView{}, err
		}
		if err := s.st.PutCredential(ctx, store.Credential{ID: credID, OrgID: orgID, Purpose: "oauth_client_secret", Ciphertext: ct}); err != nil {
			return AppView{}, err
		}
	}
	row := store.OAuthApp{OrgID: orgID, Provider: p.Name(), ClientID: a.ClientID, CredentialID: credID}
	cols := p.Settings()
	row.Tenant, row.LoginURL, row.GraphURL = *cols[0].Field(&a), *cols[1].Field(&a), *cols[2].Field(&a)
	if err := s.st.PutOAuthApp(ctx, row); err != nil {
		return AppView{}, err
	}
	return s.GetApp(ctx, orgID, p.Name())
}

// GetApp returns the organisation's app, or an Error with
// CodeNotConfigured.
func (s *Service) GetApp(ctx context.Context, orgID int64, provider string) (AppView, error) {
	p, err := s.provider(provider)
	if err != nil {
		return AppView{}, err
	}
	a, err := s.st.OAuthApp(ctx, orgID, p.Name())
	if err != nil {
		return AppView{}, err
	}
	if a == nil {
		return AppView{}, notConfigured(p)
	}
	v := fromRow(p, *a).view()
	v.Provider, v.RedirectURI, v.UpdatedAt = a.Provider, s.redirectURI(p), a.UpdatedAt
	return v, nil
}

// DeleteApp removes the organisation's app and its secret. Accounts
// signed in through it stop refreshing their tokens.
func (s *Service) DeleteApp(ctx context.Context, orgID int64, provider string) error {
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	if err := s.st.DeleteOAuthApp(ctx, orgID, p.Name()); errors.Is(err, store.ErrNotFound) {
		return notConfigured(p)
	} else if err != nil {
		return err
	}
	if err := s.st.DeleteCredential(ctx, orgID, appCredentialID(orgID, p.Name())); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// app loads the organisation's app with its secret opened.
func (s *Service) app(ctx context.Context, orgID int64, p Provider) (App, error) {
	row, err := s.st.OAuthApp(ctx, orgID, p.Name())
	if err != nil {
		return App{}, err
	}
	if row == nil {
		return App{}, notConfigured(p)
	}
	cred, err := s.st.GetCredential(ctx, orgID, row.CredentialID)
	if err != nil {
		return App{}, fmt.Errorf("oauth: the %s app's secret: %w", p.Name(), err)
	}
	pt, err := s.keys.Open(cred.Ciphertext, secret.CredentialAD(cred.ID))
	if err != nil {
		return App{}, fmt.Errorf("oauth: opening the %s app's secret: %w", p.Name(), err)
	}
	a := fromRow(p, *row)
	a.ClientSecret = string(pt)
	return a, nil
}

// fromRow reads a stored app (without its secret): the provider's
// settings are in the columns Provider.Settings says.
func fromRow(p Provider, row store.OAuthApp) App {
	a := App{ClientID: row.ClientID}
	cols := p.Settings()
	*cols[0].Field(&a), *cols[1].Field(&a), *cols[2].Field(&a) = row.Tenant, row.LoginURL, row.GraphURL
	return a
}

func notConfigured(p Provider) *Error {
	return &Error{Code: CodeNotConfigured, Message: fmt.Sprintf("The organisation has not registered its %s app yet: ask an admin to add it in the organisation's settings.", p.Display())}
}

// baseURL checks a provider base address: https, or http on loopback
// only (tests and a local fake); no user, query or fragment.
func baseURL(field, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fieldError(CodeInvalid, field, "%s must be an address such as https://host, without a query.", field)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fieldError(CodeInvalid, field, "%s must use https (http is accepted only for this machine, for tests).", field)
		}
	default:
		return "", fieldError(CodeInvalid, field, "%s must start with https.", field)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// urlSettings checks and normalises settings that are addresses.
func urlSettings(a *App, ss ...Setting) error {
	for _, st := range ss {
		v := st.Field(a)
		var err error
		if *v, err = baseURL(st.Name, *v); err != nil {
			return err
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SignInProviders lists the providers the organisation's users can sign
// in with to connect a mailbox: those this server knows whose app the
// organisation has registered, in the server's order. Front ends show a
// "Sign in with …" button for each, and none when there is none.
func (s *Service) SignInProviders(ctx context.Context, orgID int64) ([]string, error) {
	var out []string
	for _, p := range s.providers {
		ok, err := s.HasApp(ctx, orgID, p.Name())
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p.Name())
		}
	}
	return out, nil
}

// HasApp reports whether the organisation has registered provider's app
// (false for a provider this server does not sign in with).
func (s *Service) HasApp(ctx context.Context, orgID int64, provider string) (bool, error) {
	p, err := s.provider(provider)
	if err != nil {
		return false, nil
	}
	a, err := s.st.OAuthApp(ctx, orgID, p.Name())
	return a != nil && err == nil, err
}
