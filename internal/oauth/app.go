package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// AppInput is an admin's registration of the organisation's app. An empty
// ClientSecret keeps the one stored (it is required the first time).
type AppInput struct {
	ClientID     string
	ClientSecret string
	Tenant       string
	LoginURL     string
	GraphURL     string
}

// AppView is the app as shown: never its secret. RedirectURI is what the
// admin registers with the provider.
type AppView struct {
	Provider    string    `json:"provider"`
	ClientID    string    `json:"client_id"`
	Tenant      string    `json:"tenant"`
	LoginURL    string    `json:"login_url"`
	GraphURL    string    `json:"graph_url"`
	RedirectURI string    `json:"redirect_uri"`
	UpdatedAt   time.Time `json:"updated_at"`
}

var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$`)

// appCredentialID is the credential holding an app's secret: one per
// organisation and provider, replaced in place.
func appCredentialID(orgID int64, provider string) string {
	return fmt.Sprintf("oauthapp-%d-%s", orgID, provider)
}

// SetApp validates and saves the organisation's app, sealing its secret.
// The caller has checked that the viewer may (admins only).
func (s *Service) SetApp(ctx context.Context, orgID int64, provider string, in AppInput) (AppView, error) {
	p, err := s.provider(provider)
	if err != nil {
		return AppView{}, err
	}
	a := App{ClientID: strings.TrimSpace(in.ClientID), ClientSecret: in.ClientSecret, Tenant: strings.TrimSpace(in.Tenant),
		LoginURL: strings.TrimSpace(in.LoginURL), GraphURL: strings.TrimSpace(in.GraphURL)}
	p.Defaults(&a)
	if a.ClientID == "" {
		return AppView{}, fieldError(CodeRequired, "client_id", "client_id is required: the application (client) id of the app registered with %s.", p.Display())
	}
	if !tenantPattern.MatchString(a.Tenant) {
		return AppView{}, fieldError(CodeInvalid, "tenant", "tenant must be organizations, common, consumers, a tenant id or a tenant's domain.")
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"login_url", &a.LoginURL}, {"graph_url", &a.GraphURL}} {
		if *f.v, err = baseURL(f.name, *f.v); err != nil {
			return AppView{}, err
		}
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
	row := store.OAuthApp{OrgID: orgID, Provider: p.Name(), ClientID: a.ClientID, Tenant: a.Tenant,
		LoginURL: a.LoginURL, GraphURL: a.GraphURL, CredentialID: credID}
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
	return AppView{Provider: a.Provider, ClientID: a.ClientID, Tenant: a.Tenant, LoginURL: a.LoginURL, GraphURL: a.GraphURL,
		RedirectURI: s.redirectURI(p), UpdatedAt: a.UpdatedAt}, nil
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
	return App{ClientID: row.ClientID, ClientSecret: string(pt), Tenant: row.Tenant, LoginURL: row.LoginURL, GraphURL: row.GraphURL}, nil
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

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
