package mailconn

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/oauth"
)

// microsoft is the provider of mailboxes signed in with Microsoft.
const microsoft = "microsoft"

// graph returns the Graph gate of a mailbox, the same for every
// connection this Connector makes to it, and the client of every Graph
// request (through the network guard).
func (c *Connector) graph(accountID int64) (*graphmail.Gate, *http.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gates == nil {
		c.gates = map[int64]*graphmail.Gate{}
		c.graphHTTP = &http.Client{Transport: c.Guard.Transport(c.TLSConfig)}
	}
	g := c.gates[accountID]
	if g == nil {
		g = graphmail.NewGate()
		c.gates[accountID] = g
	}
	return g, c.graphHTTP
}

// dialGraph opens a Microsoft mailbox over Graph: Graph's address is the
// organisation's app's, the tokens the account's token set (refreshed and
// rotated by package oauth), every request through the network guard.
func (c *Connector) dialGraph(ctx context.Context, a crm.MailAccount) (mail.Mailbox, error) {
	if c.OAuth == nil {
		return nil, &connerr.Error{Kind: connerr.Protocol, Message: "Signing in with Microsoft is not enabled on this server, so this mailbox cannot be synced. An administrator must enable it."}
	}
	if a.CredentialID == "" {
		return nil, &connerr.Error{Kind: connerr.Auth, Message: "No sign-in is stored for this mailbox. Sign in to Microsoft again to reconnect it."}
	}
	app, err := c.OAuth.GetApp(ctx, a.OrgID, microsoft)
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return nil, &connerr.Error{Kind: connerr.Auth, Err: err, Message: oe.Message}
	}
	if err != nil {
		return nil, err
	}
	ts, err := c.OAuth.TokenSource(ctx, a.OrgID, microsoft, a.CredentialID)
	if err != nil {
		return nil, err
	}
	gate, client := c.graph(a.ID)
	return graphmail.Open(graphmail.Config{GraphURL: app.GraphURL, HTTP: client, Tokens: graphTokens(ts), Gate: gate})
}

// staler is a token source that can replace a token the provider refused
// before its expiry (package oauth's).
type staler interface {
	Stale(stale string) (*oauth2.Token, error)
}

// graphTokens adapts a token source to graphmail: a token Graph refused
// is replaced when the source can, else the current one is returned (and
// Graph's refusal stands).
func graphTokens(ts oauth2.TokenSource) graphmail.Tokens {
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
