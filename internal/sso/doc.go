// Package sso is single sign-on with OpenID Connect: an admin registers
// the organisation's identity provider (issuer, client id, client secret
// sealed at rest like the OAuth apps' secrets), and its users then sign in
// to crmsync through that provider instead of typing a crmsync password.
// The REST API (/api/v1/org/sso) and the web app (/admin/sso, the sign-in
// page) both call this package; neither does any of it on its own.
//
// crmsync is the relying party: discovery from the issuer, the
// authorization code flow with PKCE (S256), a single-use state kept in the
// database as its hash (and bound to the browser by the web app's cookie),
// a nonce, and the ID token verified by go-oidc (signature against the
// provider's keys, issuer, audience, expiry). The person is the provider's
// verified email (email_verified must be true): it must be an active user
// of the organisation whose provider it is. No account is ever created
// from a sign-in: a stranger is told to ask an admin to add them.
//
// Every request to the provider goes through the network guard (package
// netguard) like every other outbound connection: an issuer on the
// internal network or loopback is refused unless the operator listed it
// with --private-hosts.
//
// Second factors are the provider's business: a sign-in through it opens
// the session at once (the provider enforces its own 2FA policy).
package sso
