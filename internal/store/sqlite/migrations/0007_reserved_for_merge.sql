-- Placeholder on branch h13-recovery only: versions 6 and 7 belong to
-- other branches of issue 13, merged beside this one. The migrator wants
-- versions without gaps, so this file holds the number until then.
-- DELETE IT WHEN MERGING (the other branch's file takes its place).
SELECT 1;
