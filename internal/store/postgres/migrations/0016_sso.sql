-- Single sign-on (OpenID Connect): the organisation's identity provider,
-- and the sign-ins between their start and the provider's redirect back.
--
-- The client secret is a credential (sealed, package secret): the row
-- keeps only what may be shown.
CREATE TABLE sso_providers (
	org_id BIGINT PRIMARY KEY REFERENCES orgs(id),
	name TEXT NOT NULL,
	issuer TEXT NOT NULL,
	client_id TEXT NOT NULL,
	credential_id TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- A sign-in in progress, keyed by the SHA-256 of its state (the state
-- itself is only in the browser) and deleted when the provider sends the
-- browser back, so that a state is used once even with several
-- processes. The PKCE verifier is sealed; the nonce is kept as its
-- SHA-256, only compared.
CREATE TABLE sso_states (
	state_hash TEXT PRIMARY KEY,
	org_id BIGINT NOT NULL REFERENCES orgs(id),
	verifier BYTEA NOT NULL,
	nonce_hash TEXT NOT NULL,
	next_path TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sso_states_expiry ON sso_states (expires_at);
