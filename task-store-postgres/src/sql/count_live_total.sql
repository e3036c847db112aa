-- Unfinished tasks ($1: backend::CHANGEABLE) that have not expired at $2. Finished tasks do
-- not count against a limit.
SELECT count(*)
FROM tasks
WHERE status = ANY ($1)
  AND (expires_at IS NULL OR expires_at > $2)
