// Package cloudconn builds the API clients of accounts signed in with a
// provider (Microsoft, Google): the organisation's app says where the API
// is, the account's token set (package oauth, refreshed and rotated there)
// gives the bearer tokens, and one Gate per token set keeps the
// provider's per-user limits across every connector of that user — a
// Microsoft mailbox's mail, contacts, calendar and To Do share 4
// concurrent requests and one Retry-After. Every request goes through the
// network guard. mailconn and pimconn both take one *Clients, so they
// share the gates.
package cloudconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"sync"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/google"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/oauth"
)

// Provider names of accounts signed in with a provider.
const (
	Microsoft = "microsoft"
	Google    = "google"
)

// Clients builds clients; safe for concurrent use.
type Clients struct {
	OAuth     *oauth.Service
	Guard     *netguard.Guard
	TLSConfig *tls.Config
	// HTTP, when set, sends every request instead of the guarded client
	// (tests that count or break requests).
	HTTP *http.Client
	// Observer, when set, gives the observer of a provider's requests
	// ("microsoft", "google"): the process's metrics.
	Observer func(provider string) cloudapi.Observer

	mu      sync.Mutex
	gates   map[string]*cloudapi.Gate // by provider and credential id
	guarded *http.Client
}

// Gate returns the gate of a token set, the same for every connector.
func (c *Clients) Gate(provider, credentialID string, max int) *cloudapi.Gate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gates == nil {
		c.gates = map[string]*cloudapi.Gate{}
	}
	k := provider + "/" + credentialID
	g := c.gates[k]
	if g == nil {
		g = cloudapi.NewGate(max)
		c.gates[k] = g
	}
	return g
}

// Forget drops a token set's gate (its accounts are gone).
func (c *Clients) Forget(provider, credentialID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.gates, provider+"/"+credentialID)
}

// observer is the Observer of a provider's clients, nil when none is set.
func (c *Clients) observer(provider string) cloudapi.Observer {
	if c.Observer == nil {
		return nil
	}
	return c.Observer(provider)
}

// HTTPClient is the client of every provider request.
func (c *Clients) HTTPClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.guarded == nil {
		c.guarded = &http.Client{Transport: c.Guard.Transport(c.TLSConfig)}
	}
	return c.guarded
}

// Graph returns how to reach Graph for the user whose token set is
// credentialID in orgID. A missing app or sign-in is an auth_failed error
// in the user's words.
func (c *Clients) Graph(ctx context.Context, orgID int64, credentialID string) (graph.Config, error) {
	app, tokens, err := c.signedIn(ctx, orgID, Microsoft, "Microsoft", credentialID)
	if err != nil {
		return graph.Config{}, err
	}
	return graph.Config{GraphURL: app.GraphURL, HTTP: c.HTTPClient(), Tokens: tokens,
		Gate: c.Gate(Microsoft, credentialID, graph.MaxConcurrent), Observer: c.observer(Microsoft)}, nil
}

// Google returns how to reach Google's APIs for the user whose token set
// is credentialID in orgID: Gmail, People, Calendar and Tasks share its
// gate. A missing app or sign-in is an auth_failed error in the user's
// words.
func (c *Clients) Google(ctx context.Context, orgID int64, credentialID string) (google.Config, error) {
	app, tokens, err := c.signedIn(ctx, orgID, Google, "Google", credentialID)
	if err != nil {
		return google.Config{}, err
	}
	return google.Config{APIURL: app.APIURL, HTTP: c.HTTPClient(), Tokens: tokens,
		Gate: c.Gate(Google, credentialID, google.MaxConcurrent), Observer: c.observer(Google)}, nil
}

// signedIn returns the organisation's app of the provider and the bearer
// tokens of the token set credentialID.
func (c *Clients) signedIn(ctx context.Context, orgID int64, provider, display, credentialID string) (oauth.AppView, cloudapi.Tokens, error) {
	if c == nil || c.OAuth == nil {
		return oauth.AppView{}, nil, &connerr.Error{Kind: connerr.Protocol, Message: "Signing in with " + display + " is not enabled on this server, so this account cannot be synced. An administrator must enable it."}
	}
	if credentialID == "" {
		return oauth.AppView{}, nil, &connerr.Error{Kind: connerr.Auth, Message: "No sign-in is stored for this account. Sign in to " + display + " again to reconnect it."}
	}
	app, err := c.OAuth.GetApp(ctx, orgID, provider)
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return app, nil, &connerr.Error{Kind: connerr.Auth, Err: err, Message: oe.Message}
	}
	if err != nil {
		return app, nil, err
	}
	ts, err := c.OAuth.TokenSource(ctx, orgID, provider, credentialID)
	if err != nil {
		return app, nil, err
	}
	return app, Tokens(ts), nil
}

// staler is a token source that can replace a token the provider refused
// before its expiry (package oauth's).
type staler interface {
	Stale(stale string) (*oauth2.Token, error)
}

// Tokens adapts a token source to cloudapi: a token the provider refused
// is replaced when the source can, else the current one is returned (and
// the provider's refusal stands).
func Tokens(ts oauth2.TokenSource) cloudapi.Tokens {
	return func(_ context.Context, stale string) (string, error) {
		var tok *oauth2.Token
		var err error
		if s, ok := ts.(staler); ok && stale != "" {
			tok, err = s.Stale(stale)
		} else {
			tok, err = ts.Token()
		}
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
}
