-- Placeholder for migration 0015, which another branch adds: migrations are
-- numbered without gaps, and this branch's 0016 needs a 0015 to run. Drop
-- this file when merging (the other branch's 0015 takes its place).
SELECT 1;
