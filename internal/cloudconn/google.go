package cloudconn

import (
	"context"
	"errors"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/google"
	"github.com/crmsync/crmsync/internal/oauth"
)

// googleProvider is the provider name of accounts signed in with Google.
const googleProvider = "google"

// Google returns how to reach Google's APIs for the user whose token set
// is credentialID in orgID: Gmail, People, Calendar and Tasks share its
// Gate. A missing app or sign-in is an auth_failed error in the user's
// words.
func (c *Clients) Google(ctx context.Context, orgID int64, credentialID string) (google.Config, error) {
	if c == nil || c.OAuth == nil {
		return google.Config{}, &connerr.Error{Kind: connerr.Protocol, Message: "Signing in with Google is not enabled on this server, so this account cannot be synced. An administrator must enable it."}
	}
	if credentialID == "" {
		return google.Config{}, &connerr.Error{Kind: connerr.Auth, Message: "No sign-in is stored for this account. Sign in to Google again to reconnect it."}
	}
	app, err := c.OAuth.GetApp(ctx, orgID, googleProvider)
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return google.Config{}, &connerr.Error{Kind: connerr.Auth, Err: err, Message: oe.Message}
	}
	if err != nil {
		return google.Config{}, err
	}
	ts, err := c.OAuth.TokenSource(ctx, orgID, googleProvider, credentialID)
	if err != nil {
		return google.Config{}, err
	}
	// For the lead: main's oauth.AppView has no api_url yet (branch
	// h-goauth adds APIURL); until it lands the API root is read from
	// GraphURL. Switch to app.APIURL on merge.
	return google.Config{APIURL: app.GraphURL, HTTP: c.HTTPClient(), Tokens: Tokens(ts),
		Gate: c.Gate(googleProvider, credentialID, google.MaxConcurrent)}, nil
}
