package sso

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// CallbackPath is where the provider sends the browser back: the admin
// registers PublicURL+CallbackPath with the provider as the redirect URI.
const CallbackPath = "/sso/callback"

// StateLifetime is how long a sign-in may take between its start and the
// provider's redirect back.
const StateLifetime = 10 * time.Minute

// MaxName bounds the provider's name shown on the sign-in button.
const MaxName = 60

// Config is what a Service needs.
type Config struct {
	Store store.Store
	Keys  *secret.Keyring
	// HTTP is the client for every request to a provider. It must go
	// through the network guard (netguard.Guard.Transport).
	HTTP *http.Client
	// PublicURL is the address users' browsers reach crmsync at, the base
	// of the redirect URI.
	PublicURL string
	// Now is the clock for states and ID token expiry (default time.Now).
	Now func() time.Time
}

// Service configures single sign-on and signs people in through it. It is
// safe for concurrent use.
type Service struct {
	st        store.Store
	keys      *secret.Keyring
	http      *http.Client
	publicURL string
	now       func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, keys: cfg.Keys, http: cfg.HTTP, publicURL: strings.TrimSuffix(cfg.PublicURL, "/"), now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if s.http == nil {
		panic("sso: Config.HTTP is required (a client through the network guard)")
	}
	return s
}

// RedirectURI is the address the admin registers with the provider.
func (s *Service) RedirectURI() string { return s.publicURL + CallbackPath }

// Input is an admin's configuration of the organisation's provider. An
// empty ClientSecret keeps the one stored (it is required the first
// time); an empty Name is the issuer's host.
type Input struct {
	Name         string
	Issuer       string
	ClientID     string
	ClientSecret string
}

// View is the configuration as shown: never the secret.
type View struct {
	Name        string    `json:"name"`
	Issuer      string    `json:"issuer"`
	ClientID    string    `json:"client_id"`
	RedirectURI string    `json:"redirect_uri"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// credentialID is the credential holding an organisation's client
// secret, replaced in place.
func credentialID(orgID int64) string { return fmt.Sprintf("sso-%d", orgID) }

// Get returns the organisation's configuration, or an Error with
// CodeNotConfigured.
func (s *Service) Get(ctx context.Context, orgID int64) (View, error) {
	p, err := s.st.SSOProvider(ctx, orgID)
	if err != nil {
		return View{}, err
	}
	if p == nil {
		return View{}, errNotConfigured
	}
	return View{Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, RedirectURI: s.RedirectURI(), UpdatedAt: p.UpdatedAt}, nil
}

// Set validates the configuration, checks that the issuer answers its
// discovery document, and saves it with the secret sealed. The caller has
// checked that the viewer may (admins only).
func (s *Service) Set(ctx context.Context, orgID int64, in Input) (View, error) {
	issuer, err := checkIssuer(strings.TrimSpace(in.Issuer))
	if err != nil {
		return View{}, err
	}
	row := store.SSOProvider{OrgID: orgID, Name: strings.TrimSpace(in.Name), Issuer: issuer,
		ClientID: strings.TrimSpace(in.ClientID), CredentialID: credentialID(orgID)}
	if row.Name == "" {
		u, _ := url.Parse(issuer)
		row.Name = u.Hostname()
	}
	if utf8.RuneCountInString(row.Name) > MaxName {
		return View{}, fieldError(CodeInvalid, "name", "name must be at most %d characters: it is shown on the sign-in button.", MaxName)
	}
	if row.ClientID == "" {
		return View{}, fieldError(CodeRequired, "client_id", "client_id is required: the client id of crmsync registered with the identity provider.")
	}
	old, err := s.st.SSOProvider(ctx, orgID)
	if err != nil {
		return View{}, err
	}
	if in.ClientSecret == "" && old == nil {
		return View{}, fieldError(CodeRequired, "client_secret", "client_secret is required: the client secret of crmsync registered with the identity provider.")
	}
	if _, err := s.discover(ctx, issuer); err != nil {
		return View{}, err
	}
	if in.ClientSecret != "" {
		ct, err := s.keys.Seal([]byte(in.ClientSecret), secret.CredentialAD(row.CredentialID))
		if err != nil {
			return View{}, err
		}
		if err := s.st.PutCredential(ctx, store.Credential{ID: row.CredentialID, OrgID: orgID, Purpose: "sso_client_secret", Ciphertext: ct}); err != nil {
			return View{}, err
		}
	}
	if err := s.st.PutSSOProvider(ctx, row); err != nil {
		return View{}, err
	}
	return s.Get(ctx, orgID)
}

// Delete removes the organisation's configuration and its secret: its
// users sign in with their crmsync password again (those who have one).
func (s *Service) Delete(ctx context.Context, orgID int64) error {
	if err := s.st.DeleteSSOProvider(ctx, orgID); errors.Is(err, store.ErrNotFound) {
		return errNotConfigured
	} else if err != nil {
		return err
	}
	if err := s.st.DeleteCredential(ctx, orgID, credentialID(orgID)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Discovery is what a test of the configuration found at the issuer.
type Discovery struct {
	Issuer           string `json:"issuer"`
	AuthorizationURL string `json:"authorization_endpoint"`
	TokenURL         string `json:"token_endpoint"`
	UserInfoURL      string `json:"userinfo_endpoint,omitempty"`
}

// Test fetches the saved issuer's discovery document again, as a sign-in
// would, and says what it found.
func (s *Service) Test(ctx context.Context, orgID int64) (Discovery, error) {
	p, err := s.st.SSOProvider(ctx, orgID)
	if err != nil {
		return Discovery{}, err
	}
	if p == nil {
		return Discovery{}, errNotConfigured
	}
	op, err := s.discover(ctx, p.Issuer)
	if err != nil {
		return Discovery{}, err
	}
	ep := op.Endpoint()
	return Discovery{Issuer: p.Issuer, AuthorizationURL: ep.AuthURL, TokenURL: ep.TokenURL, UserInfoURL: op.UserInfoEndpoint()}, nil
}

// Choice is a provider the sign-in page may offer before it knows who
// signs in.
type Choice struct {
	OrgID int64
	Name  string
}

// SignInChoices is what the sign-in page offers. The page does not know
// the organisation before sign-in: on a server with a single organisation
// that set up single sign-on, lone is its provider (a button "Sign in
// with <name>"); on a server with several organisations, any says that at
// least one set it up, and the page asks for the email first
// (StartForEmail).
func (s *Service) SignInChoices(ctx context.Context) (lone *Choice, any bool, err error) {
	orgs, ps, err := s.st.SSOSignInChoices(ctx, 1)
	if err != nil || len(ps) == 0 {
		return nil, false, err
	}
	if orgs == 1 {
		return &Choice{OrgID: ps[0].OrgID, Name: ps[0].Name}, true, nil
	}
	return nil, true, nil
}

// checkIssuer accepts an issuer URL: https, or http on loopback only
// (tests and a local provider; the network guard still needs the
// operator's --private-hosts for it); no user, query or fragment. It is
// kept as typed otherwise: it must equal the provider's own "issuer".
func checkIssuer(raw string) (string, error) {
	if raw == "" {
		return "", fieldError(CodeRequired, "issuer", "issuer is required: the identity provider's issuer URL, such as https://login.example.com.")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fieldError(CodeInvalid, "issuer", "issuer must be an address such as https://login.example.com, without a query.")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fieldError(CodeInvalid, "issuer", "issuer must use https (http is accepted only for this machine, for tests).")
		}
	default:
		return "", fieldError(CodeInvalid, "issuer", "issuer must start with https.")
	}
	return raw, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clientContext makes go-oidc and x/oauth2 use the guarded client.
func (s *Service) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, s.http), s.http)
}

// discover reads the issuer's discovery document. A refusal of the
// network guard or a failure to connect is a *connerr.Error; anything
// else (no document, another issuer) an Error with CodeDiscovery.
func (s *Service) discover(ctx context.Context, issuer string) (*oidc.Provider, error) {
	p, err := oidc.NewProvider(s.clientContext(ctx), issuer)
	if err == nil {
		return p, nil
	}
	if ce := connerr.As(err); ce != nil {
		return nil, ce
	}
	if errors.Is(err, context.Canceled) {
		return nil, err
	}
	return nil, fieldError(CodeDiscovery, "issuer", "The identity provider's configuration could not be read at %s/.well-known/openid-configuration (%v): check the issuer URL.",
		strings.TrimSuffix(issuer, "/"), err)
}
