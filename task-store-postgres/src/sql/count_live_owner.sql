-- An owner's unfinished tasks ($2: backend::CHANGEABLE) that have not expired at $3, counted
-- no further than the limit $4. Finished tasks do not count against a limit.
SELECT count(*)
FROM (
    SELECT 1 FROM tasks
    WHERE status = ANY ($2)
      AND owner = $1
      AND (expires_at IS NULL OR expires_at > $3)
    LIMIT $4
) AS live
