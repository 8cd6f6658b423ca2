-- Offboarding (DESIGN §11): a user can be deactivated rather than deleted.
-- A deactivated user cannot sign in and their tokens are refused, but
-- their history (records, mailboxes within retention) stays theirs until
-- an admin reactivates or deletes them. NULL: active.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
