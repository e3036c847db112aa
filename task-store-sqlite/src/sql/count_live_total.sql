-- Unfinished tasks that have not expired at ?1. Finished tasks do not count against a limit.
SELECT count(*)
FROM tasks
WHERE finished = 0
  AND (expires_at IS NULL OR expires_at > ?1)
