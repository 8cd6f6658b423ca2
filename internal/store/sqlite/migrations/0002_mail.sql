-- Mailbox sync: the organisation's mail service, accounts, folders with
-- their cursors, messages and their addresses, and the per-account event
-- history users see.

CREATE TABLE org_settings (
	org_id INTEGER PRIMARY KEY REFERENCES orgs(id),
	mail_service TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
);

CREATE TABLE mail_accounts (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	owner_id INTEGER NOT NULL REFERENCES users(id),
	email TEXT NOT NULL,
	provider TEXT NOT NULL,
	mode TEXT NOT NULL CHECK (mode IN ('sync', 'forward')),
	settings TEXT NOT NULL DEFAULT '{}',
	credential_id TEXT,
	state TEXT NOT NULL,
	error_code TEXT NOT NULL DEFAULT '',
	error_message TEXT NOT NULL DEFAULT '',
	progress_done INTEGER NOT NULL DEFAULT 0,
	progress_total INTEGER NOT NULL DEFAULT 0,
	failures INTEGER NOT NULL DEFAULT 0,
	last_sync_at INTEGER,
	next_attempt_at INTEGER,
	audit TEXT NOT NULL DEFAULT '',
	disconnected_at INTEGER,
	retained_until INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (owner_id, email)
);
CREATE INDEX mail_accounts_org_owner ON mail_accounts(org_id, owner_id, id);

CREATE TABLE mail_folders (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	role TEXT NOT NULL DEFAULT '',
	selected INTEGER NOT NULL DEFAULT 0,
	uidvalidity INTEGER NOT NULL DEFAULT 0,
	uidnext INTEGER NOT NULL DEFAULT 0,
	highestmodseq INTEGER NOT NULL DEFAULT 0,
	-- Initial sync goes newest first: the lowest UID fetched so far. 0 when
	-- the folder's initial sync is complete.
	backfill_below INTEGER NOT NULL DEFAULT 0,
	server_count INTEGER NOT NULL DEFAULT 0,
	missing INTEGER NOT NULL DEFAULT 0,
	audited_at INTEGER,
	UNIQUE (account_id, name)
);

CREATE TABLE messages (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL,
	owner_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
	folder_id INTEGER REFERENCES mail_folders(id) ON DELETE SET NULL,
	uidvalidity INTEGER NOT NULL DEFAULT 0,
	uid INTEGER NOT NULL DEFAULT 0,
	message_id TEXT NOT NULL DEFAULT '',
	in_reply_to TEXT NOT NULL DEFAULT '[]',
	refs TEXT NOT NULL DEFAULT '[]',
	subject TEXT NOT NULL DEFAULT '',
	sent_at INTEGER NOT NULL,
	from_name TEXT NOT NULL DEFAULT '',
	from_email TEXT NOT NULL DEFAULT '',
	participants TEXT NOT NULL DEFAULT '{}',
	text_body TEXT NOT NULL DEFAULT '',
	html_body TEXT NOT NULL DEFAULT '',
	truncated INTEGER NOT NULL DEFAULT 0,
	attachments TEXT NOT NULL DEFAULT '[]',
	warnings TEXT NOT NULL DEFAULT '[]',
	flags INTEGER NOT NULL DEFAULT 0,
	-- Flags the user changed in crmsync, not yet written to the server;
	-- -1 when nothing is pending.
	pending_flags INTEGER NOT NULL DEFAULT -1,
	modseq INTEGER NOT NULL DEFAULT 0,
	size INTEGER NOT NULL DEFAULT 0,
	hash TEXT NOT NULL DEFAULT '',
	expunged_at INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_remote ON messages(folder_id, uidvalidity, uid) WHERE expunged_at IS NULL;
CREATE INDEX messages_account_hash ON messages(account_id, hash);
CREATE INDEX messages_account_msgid ON messages(account_id, message_id);
CREATE INDEX messages_org_owner ON messages(org_id, owner_id, id);
CREATE INDEX messages_folder ON messages(folder_id, id);
CREATE INDEX messages_pending ON messages(account_id) WHERE pending_flags >= 0;

CREATE TABLE message_addresses (
	message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL,
	kind TEXT NOT NULL,
	email TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	pos INTEGER NOT NULL
);
CREATE INDEX message_addresses_email ON message_addresses(org_id, email);
CREATE INDEX message_addresses_message ON message_addresses(message_id);

CREATE TABLE account_events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	message TEXT NOT NULL
);
CREATE INDEX account_events_account ON account_events(account_id, id);
