package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/connerr"

	"golang.org/x/oauth2"
)

// App is an organisation's app registered with a provider, as the flow
// uses it (with its secret opened). Each provider uses its own settings
// among the others (Provider.Settings says which).
type App struct {
	ClientID     string
	ClientSecret string
	// Microsoft: the tenant segment, the identity platform's base (the
	// authorize and token endpoints are under it) and Graph's base.
	Tenant   string
	LoginURL string
	GraphURL string
	// Google: the authorize and token endpoints, and the root of its APIs.
	AuthURL  string
	TokenURL string
	APIURL   string
}

// Setting is one of a provider's app settings besides the client id and
// secret: its name in the API and the App field holding it.
type Setting struct {
	Name  string
	Field func(*App) *string
}

// Identity is who signed in.
type Identity struct {
	Email string
	// Personal is a consumer account (Outlook.com) rather than a work or
	// school one.
	Personal bool
}

// Provider is what differs between providers.
type Provider interface {
	// Name is the provider in routes and rows ("microsoft", "google").
	Name() string
	// Display is its name for people ("Microsoft").
	Display() string
	// Settings are the app's settings besides the client id and secret,
	// in the order of the columns of oauth_apps that store them (tenant,
	// login_url, graph_url: the columns were named for Microsoft, the
	// first provider; another provider keeps its own settings in them).
	Settings() [3]Setting
	// Defaults fills an app's empty optional settings.
	Defaults(a *App)
	// Check validates (and normalises) an app's settings after Defaults;
	// a refusal is an *Error naming the setting.
	Check(a *App) error
	// Endpoint is where to authorize and redeem for a.
	Endpoint(a App) oauth2.Endpoint
	// Scopes are what the services (mail, contacts, calendar, tasks)
	// need, plus sign-in and offline access; an unknown service is an
	// error naming it.
	Scopes(services []string) ([]string, error)
	// AuthOptions are the provider's parameters of the authorize request
	// besides PKCE; returning says the user already holds a working
	// sign-in with the provider (no forced consent is needed for a
	// refresh token).
	AuthOptions(returning bool) []oauth2.AuthCodeOption
	// Identify reads who signed in from the first token answer; a
	// refusal of that account is an *Error.
	Identify(ctx context.Context, c *http.Client, a App, tok *oauth2.Token) (Identity, error)
	// AuthorizeError turns the error of a redirect back (its error and
	// error_description parameters) into a refusal when the provider
	// gives it a meaning of its own; nil leaves it to the common rules
	// (access_denied, anything else).
	AuthorizeError(code, description string) error
	// Classify turns a token endpoint failure into a *connerr.Error.
	Classify(err error, server string) error
}

// transportError is a failure to reach a provider: the network guard's
// own classification when it refused, else unreachable.
func transportError(err error, server, msg string) error {
	if ce := connerr.As(err); ce != nil {
		return ce
	}
	return &connerr.Error{Kind: connerr.Unreachable, Server: server, Message: msg, Err: err}
}

// getJSON reads a provider's JSON answer to a GET with the token: the
// status, and the body decoded into v when it is 200. A transport failure
// is a *connerr.Error with words saying who did not answer.
func getJSON(ctx context.Context, c *http.Client, rawURL string, tok *oauth2.Token, display string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	tok.SetAuthHeader(req)
	resp, err := c.Do(req)
	if err != nil {
		return 0, transportError(err, req.URL.Host, display+" did not answer; try again in a moment.")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, connerr.New(connerr.Protocol, display+"'s answer could not be read; try again.", err)
	}
	return resp.StatusCode, nil
}

// idClaims are the id_token claims crmsync reads: Microsoft's (§2.7) and
// OpenID Connect's.
type idClaims struct {
	TID               string `json:"tid"`
	Email             string `json:"email"`
	EmailVerified     any    `json:"email_verified"` // Google has sent both true and "true"
	PreferredUsername string `json:"preferred_username"`
}

// unverified says the provider stated that it has not verified the
// address (a claim left out states nothing).
func (c idClaims) unverified() bool {
	switch v := c.EmailVerified.(type) {
	case bool:
		return !v
	case string:
		return strings.EqualFold(v, "false")
	}
	return false
}

// jwtClaims reads an id_token's claims. It came straight from the token
// endpoint over the connection crmsync opened, so its signature needs no
// check (OpenID Connect Core §3.1.3.7).
func jwtClaims(raw string) (idClaims, error) {
	var c idClaims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return c, errors.New("id_token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// scopesFor is the sign-in scopes followed by the services' own, each
// once; an unknown service is an error naming it.
func scopesFor(base []string, per map[string][]string, services []string) ([]string, error) {
	out := append([]string(nil), base...)
	for _, s := range services {
		sc, ok := per[s]
		if !ok {
			return nil, fmt.Errorf("%q is not a service: use mail, contacts, calendar or tasks", s)
		}
		for _, x := range sc {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// classifyToken reads a token endpoint's failure: a transport failure is
// unreachable (or the network guard's refusal); a refusal goes through
// the provider's rules (a kind, and words unless the common ones do),
// else it is throttled (429, temporarily_unavailable), unreachable (5xx)
// or protocol.
func classifyToken(err error, server, display string, rules func(re *oauth2.RetrieveError) (connerr.Kind, string)) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return transportError(err, server, display+"'s sign-in service did not answer; crmsync tries again later.")
	}
	e := &connerr.Error{Server: server, Err: fmt.Errorf("token endpoint: %s", re.ErrorCode)}
	e.Kind, e.Message = rules(re)
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	switch {
	case e.Kind != "" && e.Message != "":
	case e.Kind == connerr.Throttled || re.ErrorCode == "temporarily_unavailable" || status == http.StatusTooManyRequests:
		e.Kind, e.Message = connerr.Throttled, display+"'s sign-in service asked crmsync to slow down; it tries again later."
	case status >= 500:
		e.Kind, e.Message = connerr.Unreachable, display+"'s sign-in service is failing; crmsync tries again later."
	default:
		e.Kind, e.Message = connerr.Protocol, display+"'s sign-in service refused the request; try again, and tell an admin if it goes on."
	}
	return e
}
