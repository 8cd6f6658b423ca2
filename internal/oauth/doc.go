// Package oauth signs users in with a provider (Microsoft, Google) and
// keeps their tokens: the organisation's registered app, the
// authorization-code flow with PKCE and a single-use state, the token set
// sealed as a credential, refreshed before expiry with rotations persisted,
// and an oauth2.TokenSource for connectors. Provider specifics (endpoints,
// scopes, who signed in, error codes) are behind Provider, so the flow is
// written once.
//
// Every request to a provider goes through the network guard's transport
// (the caller's HTTP client): the app's addresses are set by an admin.
// No token, code, verifier or secret is ever logged or put in an error.
package oauth
