-- Address books, calendars and task lists reached through a provider's
-- API after signing in with it (Microsoft Graph, Google's APIs) are PIM
-- accounts of kind 'microsoft' or 'google', one per service the user
-- signed in for: 'contacts', 'calendar' or 'tasks'. CardDAV accounts are
-- the 'contacts' service, CalDAV ones the 'calendar' service (events, and
-- tasks where the server keeps them). The signed-in accounts of one user
-- and address share the URL (the API's root) and the username (the
-- address), so the service is part of what makes an account unique.
ALTER TABLE pim_accounts DROP CONSTRAINT pim_accounts_kind_check;
ALTER TABLE pim_accounts ADD CONSTRAINT pim_accounts_kind_check CHECK (kind IN ('carddav', 'caldav', 'microsoft', 'google'));
ALTER TABLE pim_accounts ADD COLUMN service TEXT;
UPDATE pim_accounts SET service = CASE kind WHEN 'carddav' THEN 'contacts' ELSE 'calendar' END;
ALTER TABLE pim_accounts ALTER COLUMN service SET NOT NULL;
ALTER TABLE pim_accounts ADD CONSTRAINT pim_accounts_service_check CHECK (service IN ('contacts', 'calendar', 'tasks'));
ALTER TABLE pim_accounts DROP CONSTRAINT pim_accounts_owner_id_kind_url_username_key;
ALTER TABLE pim_accounts ADD CONSTRAINT pim_accounts_unique UNIQUE (owner_id, kind, service, url, username);
