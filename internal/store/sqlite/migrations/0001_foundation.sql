-- Foundation: organisations, users, tokens, CRM records, credentials, leases.
-- Timestamps are Unix microseconds. AUTOINCREMENT so that an id is never
-- reused: ids are cursors and link targets.

CREATE TABLE orgs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE users (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	email TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'member')),
	manager_id INTEGER REFERENCES users(id),
	password_hash TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX users_org ON users(org_id, id);
CREATE INDEX users_manager ON users(manager_id);

CREATE TABLE api_tokens (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('api', 'session')),
	hash BLOB NOT NULL UNIQUE,
	prefix TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	last_used_at INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id, kind);

CREATE TABLE companies (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	name TEXT NOT NULL,
	owner_id INTEGER NOT NULL REFERENCES users(id),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX companies_org ON companies(org_id, id);
CREATE INDEX companies_org_owner ON companies(org_id, owner_id, id);

CREATE TABLE company_domains (
	company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL,
	domain TEXT NOT NULL,
	pos INTEGER NOT NULL,
	PRIMARY KEY (company_id, domain)
);
CREATE INDEX company_domains_lookup ON company_domains(org_id, domain);

CREATE TABLE contacts (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	first_name TEXT NOT NULL,
	last_name TEXT NOT NULL,
	phones TEXT NOT NULL DEFAULT '[]',
	company_id INTEGER REFERENCES companies(id) ON DELETE SET NULL,
	owner_id INTEGER NOT NULL REFERENCES users(id),
	lifecycle TEXT NOT NULL CHECK (lifecycle IN ('lead', 'prospect', 'customer', 'past_customer', 'lost')),
	custom_fields TEXT NOT NULL DEFAULT '{}',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX contacts_org ON contacts(org_id, id);
CREATE INDEX contacts_org_owner ON contacts(org_id, owner_id, id);
CREATE INDEX contacts_company ON contacts(company_id);

CREATE TABLE contact_emails (
	contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL,
	email TEXT NOT NULL,
	pos INTEGER NOT NULL,
	PRIMARY KEY (contact_id, email)
);
CREATE INDEX contact_emails_lookup ON contact_emails(org_id, email);

CREATE TABLE opportunities (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	name TEXT NOT NULL,
	company_id INTEGER REFERENCES companies(id) ON DELETE SET NULL,
	owner_id INTEGER NOT NULL REFERENCES users(id),
	status TEXT NOT NULL CHECK (status IN ('open', 'won', 'lost')),
	amount TEXT,
	currency TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX opportunities_org ON opportunities(org_id, id);
CREATE INDEX opportunities_org_owner ON opportunities(org_id, owner_id, id);
CREATE INDEX opportunities_company ON opportunities(company_id);

CREATE TABLE opportunity_contacts (
	opportunity_id INTEGER NOT NULL REFERENCES opportunities(id) ON DELETE CASCADE,
	contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL,
	pos INTEGER NOT NULL,
	PRIMARY KEY (opportunity_id, contact_id)
);
CREATE INDEX opportunity_contacts_contact ON opportunity_contacts(contact_id);

CREATE TABLE credentials (
	id TEXT PRIMARY KEY,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	purpose TEXT NOT NULL,
	ciphertext BLOB NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE leases (
	kind TEXT NOT NULL,
	lease_key TEXT NOT NULL,
	owner TEXT NOT NULL,
	generation INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (kind, lease_key)
);
