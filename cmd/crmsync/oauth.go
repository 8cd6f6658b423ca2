package main

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/oauth"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/sso"
	"github.com/crmsync/crmsync/internal/store"
)

// providerTimeout bounds one request to a sign-in provider.
const providerTimeout = 30 * time.Second

// newOAuth builds the sign-in service: its requests to providers go
// through the network guard, like every connection made for a user.
func newOAuth(guard *netguard.Guard, st store.Store, kr *secret.Keyring, publicURL string) (*oauth.Service, error) {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--public-url must be an address such as https://crm.example.com, the one users' browsers reach this server at")
	}
	return oauth.New(oauth.Config{Store: st, Keys: kr, PublicURL: publicURL,
		HTTP: &http.Client{Transport: guard.Transport(nil), Timeout: providerTimeout}}), nil
}

// newOAuthTokens is the service of a worker: it refreshes the token sets
// the sync loops use and signs no one in.
func newOAuthTokens(guard *netguard.Guard, st store.Store, kr *secret.Keyring) *oauth.Service {
	return oauth.New(oauth.Config{Store: st, Keys: kr,
		HTTP: &http.Client{Transport: guard.Transport(nil), Timeout: providerTimeout}})
}

// newSSO builds single sign-on (OpenID Connect): like the OAuth sign-in,
// its requests to identity providers go through the network guard. The
// public URL was checked by newOAuth.
func newSSO(guard *netguard.Guard, st store.Store, kr *secret.Keyring, publicURL string) *sso.Service {
	return sso.New(sso.Config{Store: st, Keys: kr, PublicURL: publicURL,
		HTTP: &http.Client{Transport: guard.Transport(nil), Timeout: providerTimeout}})
}
