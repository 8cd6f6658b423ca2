-- Two-way sync of contacts, tasks and events (DESIGN §9): the contact
-- fields address books carry, tasks and events, and per PIM account its
-- collections with their cursors and the mapping of each item with its
-- base snapshot.

ALTER TABLE contacts ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN notes TEXT NOT NULL DEFAULT '';
-- crm.PostalAddress as JSON ('' when none).
ALTER TABLE contacts ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN categories TEXT NOT NULL DEFAULT '[]';

CREATE TABLE tasks (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	owner_id INTEGER NOT NULL REFERENCES users(id),
	summary TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	due TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL CHECK (status IN ('needs_action', 'in_process', 'completed', 'cancelled')),
	priority INTEGER NOT NULL DEFAULT 0,
	completed_at TEXT NOT NULL DEFAULT '',
	categories TEXT NOT NULL DEFAULT '[]',
	contact_id INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
	custom_fields TEXT NOT NULL DEFAULT '{}',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX tasks_org_owner ON tasks(org_id, owner_id, id);
CREATE INDEX tasks_contact ON tasks(contact_id);

CREATE TABLE events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	owner_id INTEGER NOT NULL REFERENCES users(id),
	summary TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	location TEXT NOT NULL DEFAULT '',
	start TEXT NOT NULL,
	"end" TEXT NOT NULL DEFAULT '',
	-- The instant of the first start and of the end of the series (NULL
	-- for an open-ended rule), for range queries.
	start_at INTEGER NOT NULL,
	series_end_at INTEGER,
	rrule TEXT NOT NULL DEFAULT '',
	exdates TEXT NOT NULL DEFAULT '[]',
	rdates TEXT NOT NULL DEFAULT '[]',
	overrides TEXT NOT NULL DEFAULT '[]',
	attendees TEXT NOT NULL DEFAULT '[]',
	categories TEXT NOT NULL DEFAULT '[]',
	contact_id INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
	custom_fields TEXT NOT NULL DEFAULT '{}',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX events_org_owner ON events(org_id, owner_id, id);
CREATE INDEX events_org_start ON events(org_id, start_at);
CREATE INDEX events_contact ON events(contact_id);

CREATE TABLE pim_accounts (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	owner_id INTEGER NOT NULL REFERENCES users(id),
	kind TEXT NOT NULL CHECK (kind IN ('carddav', 'caldav')),
	url TEXT NOT NULL,
	username TEXT NOT NULL,
	credential_id TEXT,
	options TEXT NOT NULL DEFAULT '{}',
	state TEXT NOT NULL,
	error_code TEXT NOT NULL DEFAULT '',
	error_message TEXT NOT NULL DEFAULT '',
	progress_done INTEGER NOT NULL DEFAULT 0,
	progress_total INTEGER NOT NULL DEFAULT 0,
	failures INTEGER NOT NULL DEFAULT 0,
	last_sync_at INTEGER,
	next_attempt_at INTEGER,
	sync_requested INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (owner_id, kind, url, username)
);
CREATE INDEX pim_accounts_org_owner ON pim_accounts(org_id, owner_id, id);

CREATE TABLE pim_account_events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES pim_accounts(id) ON DELETE CASCADE,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	message TEXT NOT NULL
);
CREATE INDEX pim_account_events_account ON pim_account_events(account_id, id);

CREATE TABLE pim_collections (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES pim_accounts(id) ON DELETE CASCADE,
	href TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('contacts', 'events', 'tasks')),
	display_name TEXT NOT NULL DEFAULT '',
	sync_token TEXT NOT NULL DEFAULT '',
	ctag TEXT NOT NULL DEFAULT '',
	UNIQUE (account_id, href, kind)
);

CREATE TABLE pim_items (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES pim_accounts(id) ON DELETE CASCADE,
	collection_id INTEGER NOT NULL REFERENCES pim_collections(id) ON DELETE CASCADE,
	record_type TEXT NOT NULL CHECK (record_type IN ('contact', 'task', 'event')),
	-- No foreign key: a CRM record deleted leaves its mapping as a
	-- tombstone, so the remote copy is not imported again.
	crm_id INTEGER NOT NULL DEFAULT 0,
	href TEXT NOT NULL DEFAULT '',
	uid TEXT NOT NULL DEFAULT '',
	etag TEXT NOT NULL DEFAULT '',
	base TEXT NOT NULL DEFAULT '',
	raw BLOB,
	crm_updated_at INTEGER NOT NULL DEFAULT 0,
	tombstone_side TEXT NOT NULL DEFAULT '',
	tombstoned_at INTEGER,
	error TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX pim_items_href ON pim_items(collection_id, href) WHERE href <> '';
CREATE UNIQUE INDEX pim_items_crm ON pim_items(collection_id, record_type, crm_id) WHERE crm_id <> 0;
