-- One account model for every provider (DESIGN §4): a message's id on the
-- provider and a folder's cursor are opaque strings owned by the
-- connector, so the store knows no UID, UIDVALIDITY or MODSEQ. A folder's
-- epoch grows when its connector no longer accepts the cursor and the
-- folder is listed again; the previous epoch's messages stay visible
-- until the new listing has re-attached them (by id or content hash) and
-- are then expunged.

ALTER TABLE messages ADD COLUMN remote_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
-- The IMAP connector's ids are "UIDVALIDITY:UID".
UPDATE messages SET remote_id = uidvalidity::text || ':' || uid::text WHERE uid > 0;

ALTER TABLE mail_folders ADD COLUMN cursor TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_folders ADD COLUMN syncing BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN stale BIGINT NOT NULL DEFAULT 0;
-- The IMAP connector's cursors are "imap1:UIDVALIDITY:UIDNEXT:HIGHESTMODSEQ:BELOW".
UPDATE mail_folders SET cursor = 'imap1:' || uidvalidity::text || ':' || uidnext::text || ':' || highestmodseq::text || ':' || backfill_below::text,
	syncing = CASE WHEN backfill_below > 0 THEN 1 ELSE 0 END
	WHERE uidvalidity > 0 AND name <> 'Dropbox';
-- A folder being renumbered when the binary was upgraded: the other
-- UIDVALIDITY's rows are the previous epoch.
UPDATE messages SET epoch = -1 WHERE expunged_at IS NULL AND EXISTS
	(SELECT 1 FROM mail_folders f WHERE f.id = messages.folder_id AND f.uidvalidity <> messages.uidvalidity AND f.name <> 'Dropbox');
UPDATE mail_folders SET stale = 1 WHERE EXISTS (SELECT 1 FROM messages m WHERE m.folder_id = mail_folders.id AND m.epoch < 0);

-- Forwarded mail is identified by its content (an SMTP retry is the same
-- message).
UPDATE messages SET remote_id = 'fwd:' || hash
	WHERE hash <> '' AND folder_id IN (SELECT id FROM mail_folders WHERE name = 'Dropbox');

DROP INDEX messages_remote;
ALTER TABLE messages DROP COLUMN uidvalidity;
ALTER TABLE messages DROP COLUMN uid;
ALTER TABLE messages DROP COLUMN modseq;
ALTER TABLE mail_folders DROP COLUMN uidvalidity;
ALTER TABLE mail_folders DROP COLUMN uidnext;
ALTER TABLE mail_folders DROP COLUMN highestmodseq;
ALTER TABLE mail_folders DROP COLUMN backfill_below;
-- Every message has a remote id (the store refuses one without): rows
-- that had neither a UID nor a forwarded hash keep one of their own.
UPDATE messages SET remote_id = 'legacy:' || id::text WHERE remote_id = '';
-- Both indexes cover the queries the engine makes per batch (ids stored in
-- the folder's epoch), so SQLite never reads a row's bodies to answer them.
CREATE UNIQUE INDEX messages_remote ON messages(folder_id, remote_id) WHERE expunged_at IS NULL;
CREATE INDEX messages_epoch ON messages(folder_id, epoch, remote_id) WHERE expunged_at IS NULL;
