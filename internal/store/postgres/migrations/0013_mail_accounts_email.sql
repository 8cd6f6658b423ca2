-- Gmail's push notifications name a mailbox by its address only: the
-- endpoint finds the accounts connected to it by lower(email), with this
-- index rather than a scan of every mailbox.
CREATE INDEX mail_accounts_email_lower ON mail_accounts (lower(email));
