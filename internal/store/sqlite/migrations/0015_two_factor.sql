-- Two-factor authentication (TOTP, RFC 6238). The shared secret is a
-- credential (sealed like mailbox passwords, so key rotation covers it);
-- this row says whose it is, whether the user confirmed it with a code
-- (enabled_at; NULL while enrolment is pending) and the last time step a
-- code was accepted for, so that no code is accepted twice.
CREATE TABLE user_totp (
	user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	credential_id TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	enabled_at INTEGER,
	last_step INTEGER NOT NULL DEFAULT 0
);

-- Recovery codes: only their SHA-256 hash; each is used once.
CREATE TABLE user_recovery_codes (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	hash BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	used_at INTEGER
);
CREATE INDEX user_recovery_codes_user ON user_recovery_codes(user_id);

-- An organisation's sign-in policy, set by its admins.
CREATE TABLE org_security (
	org_id INTEGER PRIMARY KEY REFERENCES orgs(id),
	require_two_factor INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
);
