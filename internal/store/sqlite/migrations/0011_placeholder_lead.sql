-- Placeholder for the lead's migration 0011 (branch h-gnotify needs 0012
-- and numbers have no gaps): delete this file when merging 0011.
SELECT 1;
