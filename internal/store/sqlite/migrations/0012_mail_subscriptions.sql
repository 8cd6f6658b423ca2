-- A mailbox's push subscription with its provider (Microsoft Graph's
-- change notifications): one per mail account. The client state that
-- authenticates the provider's notifications is kept only as its SHA-256
-- (hex); news is set by a notification (or a "missed" lifecycle event)
-- and taken by the account's sync loop, so that a notification received
-- by any process reaches the loop wherever it runs.
CREATE TABLE mail_subscriptions (
	account_id INTEGER PRIMARY KEY REFERENCES mail_accounts(id) ON DELETE CASCADE,
	subscription_id TEXT NOT NULL UNIQUE,
	client_state_hash TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	news INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
);
