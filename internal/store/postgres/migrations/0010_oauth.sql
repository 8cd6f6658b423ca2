-- Sign-in with a provider (OAuth 2.0): the organisation's registered app
-- per provider, and the pending sign-ins.
--
-- An app's client secret is a credential (sealed, package secret); this
-- row keeps only what may be shown.
CREATE TABLE oauth_apps (
	org_id BIGINT NOT NULL REFERENCES orgs(id),
	provider TEXT NOT NULL,
	client_id TEXT NOT NULL,
	tenant TEXT NOT NULL,
	login_url TEXT NOT NULL,
	graph_url TEXT NOT NULL,
	credential_id TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (org_id, provider)
);

-- A sign-in between its start and the provider's redirect back. The row
-- is keyed by the SHA-256 of the state (the state itself is only in the
-- browser), is deleted when the redirect comes back, so a state is used
-- once even with several processes, and holds the PKCE verifier sealed.
CREATE TABLE oauth_states (
	state_hash TEXT PRIMARY KEY,
	org_id BIGINT NOT NULL REFERENCES orgs(id),
	user_id BIGINT NOT NULL,
	provider TEXT NOT NULL,
	services TEXT NOT NULL,
	mode TEXT NOT NULL,
	verifier BYTEA NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
