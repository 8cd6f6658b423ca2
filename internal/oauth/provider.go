package oauth

import (
	"context"
	"net/http"

	"github.com/crmsync/crmsync/internal/connerr"

	"golang.org/x/oauth2"
)

// App is an organisation's app registered with a provider, as the flow
// uses it (with its secret opened).
type App struct {
	ClientID     string
	ClientSecret string
	Tenant       string
	LoginURL     string
	GraphURL     string
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
	// Name is the provider in routes and rows ("microsoft").
	Name() string
	// Display is its name for people ("Microsoft").
	Display() string
	// Defaults fills an app's empty optional fields.
	Defaults(a *App)
	// Endpoint is where to authorize and redeem for a.
	Endpoint(a App) oauth2.Endpoint
	// Scopes are what the services (mail, contacts, calendar, tasks)
	// need, plus sign-in and offline access; an unknown service is an
	// error naming it.
	Scopes(services []string) ([]string, error)
	// Identify reads who signed in from the first token answer.
	Identify(ctx context.Context, c *http.Client, a App, tok *oauth2.Token) (Identity, error)
	// WrongAccountKind reports whether a callback's error (its error and
	// error_description parameters) says the account's kind is not
	// accepted by the app's tenant.
	WrongAccountKind(code, description string) bool
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
