-- The history of every CRM record (DESIGN §3): who or which sync account
-- changed which field from what to what, creations, deletions and the
-- values sync conflicts overwrote. record_id, owner_id, user_id and
-- pim_account_id carry no foreign key on purpose: the history outlives the
-- record (a deletion is an entry), its owner, its author and the account.
CREATE TABLE record_history (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	record_type TEXT NOT NULL CHECK (record_type IN ('company', 'contact', 'opportunity', 'task', 'event')),
	record_id INTEGER NOT NULL,
	-- The record's owner after the change: who may read the history of a
	-- deleted record.
	owner_id INTEGER NOT NULL,
	changed_at INTEGER NOT NULL,
	action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'conflict')),
	field TEXT NOT NULL DEFAULT '',
	old_value TEXT,
	new_value TEXT,
	user_id INTEGER,
	pim_account_id INTEGER,
	note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX record_history_record ON record_history(org_id, record_type, record_id, id);
