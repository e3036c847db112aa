-- Unfinished tasks (?1, ?2: status::CHANGEABLE) that have not expired at ?3. Finished tasks
-- do not count against a limit.
SELECT count(*)
FROM tasks
WHERE status IN (?1, ?2)
  AND (expires_at IS NULL OR expires_at > ?3)
