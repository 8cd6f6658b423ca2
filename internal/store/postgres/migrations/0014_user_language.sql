-- The language a user chose for the web app ("" : the browser's
-- Accept-Language decides): en, fr, sv or it.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '';
