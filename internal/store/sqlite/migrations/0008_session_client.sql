-- A session remembers the client it was signed in from (its address and
-- User-Agent, as the server saw them), so that the user listing their
-- sessions can tell their laptop from a stranger's and sign that one out.
-- Empty for API tokens and for sessions signed in before this version.

ALTER TABLE api_tokens ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN client_ip TEXT NOT NULL DEFAULT '';
