-- sqlstore: foreign keys off
--
-- Address books, calendars and task lists reached through a provider's
-- API after signing in with it (Microsoft Graph, Google's APIs) are PIM
-- accounts of kind 'microsoft' or 'google', one per service the user
-- signed in for: 'contacts', 'calendar' or 'tasks'. CardDAV accounts are
-- the 'contacts' service, CalDAV ones the 'calendar' service (events, and
-- tasks where the server keeps them). The signed-in accounts of one user
-- and address share the URL (the API's root) and the username (the
-- address), so the service is part of what makes an account unique.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- (foreign keys off, so that the rows referencing it are kept as they are).
CREATE TABLE pim_accounts_new (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	owner_id INTEGER NOT NULL REFERENCES users(id),
	kind TEXT NOT NULL CHECK (kind IN ('carddav', 'caldav', 'microsoft', 'google')),
	service TEXT NOT NULL CHECK (service IN ('contacts', 'calendar', 'tasks')),
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
	UNIQUE (owner_id, kind, service, url, username)
);
INSERT INTO pim_accounts_new (id, org_id, owner_id, kind, service, url, username, credential_id, options, state,
	error_code, error_message, progress_done, progress_total, failures, last_sync_at, next_attempt_at,
	sync_requested, created_at, updated_at)
SELECT id, org_id, owner_id, kind, CASE kind WHEN 'carddav' THEN 'contacts' ELSE 'calendar' END, url, username,
	credential_id, options, state, error_code, error_message, progress_done, progress_total, failures,
	last_sync_at, next_attempt_at, sync_requested, created_at, updated_at
FROM pim_accounts;
DROP TABLE pim_accounts;
ALTER TABLE pim_accounts_new RENAME TO pim_accounts;
CREATE INDEX pim_accounts_org_owner ON pim_accounts(org_id, owner_id, id);
