-- Placeholder keeping migration numbers contiguous on the webhooks branch
-- (numbers 0015 belongs to another branch): delete this file when merging.
SELECT 1;
