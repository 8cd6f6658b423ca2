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
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/oauth"
)

// Microsoft is the provider name of accounts signed in with Microsoft.
const Microsoft = "microsoft"

// Clients builds clients; safe for concurrent use.
type Clients struct {
	OAuth     *oauth.Service
	Guard     *netguard.Guard
	TLSConfig *tls.Config
	// HTTP, when set, sends every request instead of the guarded client
	// (tests that count or break requests).
	HTTP *http.Client

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
	if c == nil || c.OAuth == nil {
		return graph.Config{}, &connerr.Error{Kind: connerr.Protocol, Message: "Signing in with Microsoft is not enabled on this server, so this account cannot be synced. An administrator must enable it."}
	}
	if credentialID == "" {
		return graph.Config{}, &connerr.Error{Kind: connerr.Auth, Message: "No sign-in is stored for this account. Sign in to Microsoft again to reconnect it."}
	}
	app, err := c.OAuth.GetApp(ctx, orgID, Microsoft)
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return graph.Config{}, &connerr.Error{Kind: connerr.Auth, Err: err, Message: oe.Message}
	}
	if err != nil {
		return graph.Config{}, err
	}
	ts, err := c.OAuth.TokenSource(ctx, orgID, Microsoft, credentialID)
	if err != nil {
		return graph.Config{}, err
	}
	return graph.Config{GraphURL: app.GraphURL, HTTP: c.HTTPClient(), Tokens: Tokens(ts),
		Gate: c.Gate(Microsoft, credentialID, graph.MaxConcurrent)}, nil
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
