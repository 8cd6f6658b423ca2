-- Placeholder so that 0007 follows without a gap on this branch; the
-- merge replaces it with the real 0006 of another branch.
SELECT 1;
