-- An owner's unfinished tasks that have not expired at ?2, counted no further than the limit
-- ?3. Finished tasks do not count against a limit.
SELECT count(*)
FROM (
    SELECT 1 FROM tasks
    WHERE finished = 0
      AND owner = ?1
      AND (expires_at IS NULL OR expires_at > ?2)
    LIMIT ?3
)
