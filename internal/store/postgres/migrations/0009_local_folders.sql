-- A folder that exists only in crmsync (the dropbox of forwarding mode) is
-- local: the sync never takes it for a folder gone from the server, never
-- asks the server for it, and a server folder of the same name is kept
-- apart. Why: a mailbox switched from forwarding back to sync keeps its
-- forwarded mail.
ALTER TABLE mail_folders ADD COLUMN local BIGINT NOT NULL DEFAULT 0;
UPDATE mail_folders SET local = 1 WHERE name = 'Dropbox'
	AND account_id IN (SELECT id FROM mail_accounts WHERE dropbox_token IS NOT NULL AND dropbox_token <> '');
