-- Links between emails and CRM records, forwarding-mode dropboxes,
-- retention of disconnected accounts, and the outbox.

-- The domain of each address, for linking companies by domain.
ALTER TABLE message_addresses ADD COLUMN domain TEXT NOT NULL DEFAULT '';
UPDATE message_addresses SET domain = lower(substr(email, instr(email, '@') + 1)) WHERE instr(email, '@') > 0;
CREATE INDEX message_addresses_domain ON message_addresses(org_id, domain);

-- One row per (email, record). source: auto (computed) or manual (a
-- person's choice, which automatic linking never overrides); state: linked,
-- or unlinked for a manual unlink that must stay unlinked.
CREATE TABLE email_links (
	message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL,
	target_type TEXT NOT NULL CHECK (target_type IN ('company', 'contact', 'opportunity')),
	target_id INTEGER NOT NULL,
	source TEXT NOT NULL CHECK (source IN ('auto', 'manual')),
	state TEXT NOT NULL CHECK (state IN ('linked', 'unlinked')),
	created_at INTEGER NOT NULL,
	PRIMARY KEY (message_id, target_type, target_id)
);
CREATE INDEX email_links_target ON email_links(org_id, target_type, target_id);

-- Linking settings: the organisation's own domains (never linked as a
-- company) and free-mail domains added to the built-in list.
ALTER TABLE org_settings ADD COLUMN own_domains TEXT NOT NULL DEFAULT '[]';
ALTER TABLE org_settings ADD COLUMN freemail_domains TEXT NOT NULL DEFAULT '[]';

-- Forwarding mode: the unguessable local part of the account's dropbox.
ALTER TABLE mail_accounts ADD COLUMN dropbox_token TEXT;
CREATE UNIQUE INDEX mail_accounts_dropbox ON mail_accounts(dropbox_token) WHERE dropbox_token IS NOT NULL;
CREATE INDEX mail_accounts_retained ON mail_accounts(retained_until) WHERE retained_until IS NOT NULL;

-- Mail to send. state: queued, sending, sent, failed.
CREATE TABLE outbox (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL,
	owner_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
	message_id TEXT NOT NULL UNIQUE,
	request TEXT NOT NULL,
	raw BLOB,
	state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	email_id INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(account_id, state, next_attempt_at);
