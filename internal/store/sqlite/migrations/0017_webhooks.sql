-- Webhooks (DESIGN §15). An admin registers endpoints of the organisation:
-- an address, the events it wants (webhook_endpoint_events) and a secret
-- sealed in credentials (credential_id). Every change that reports an
-- event writes, in its own transaction, one webhook_events row (the
-- transactional outbox: a rolled-back change leaves none) and one
-- webhook_deliveries row per subscribed endpoint; the delivery is the log
-- an admin reads and what the River job of that delivery updates.
CREATE TABLE webhook_endpoints (
	id INTEGER PRIMARY KEY,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	url TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	active INTEGER NOT NULL DEFAULT 1,
	credential_id TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id);

CREATE TABLE webhook_endpoint_events (
	endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
	org_id INTEGER NOT NULL,
	event TEXT NOT NULL,
	PRIMARY KEY (endpoint_id, event)
);
CREATE INDEX webhook_endpoint_events_org ON webhook_endpoint_events (org_id, event);

CREATE TABLE webhook_events (
	id TEXT PRIMARY KEY,
	org_id INTEGER NOT NULL REFERENCES orgs(id),
	type TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
	id INTEGER PRIMARY KEY,
	org_id INTEGER NOT NULL,
	endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
	event_id TEXT NOT NULL REFERENCES webhook_events(id),
	state TEXT NOT NULL DEFAULT 'pending',
	enqueued INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_status INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	last_body TEXT NOT NULL DEFAULT '',
	last_attempt_at INTEGER,
	next_attempt_at INTEGER,
	delivered_at INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (state, enqueued) WHERE state = 'pending';
