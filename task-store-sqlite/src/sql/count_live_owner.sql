-- An owner's unfinished tasks (?2, ?3: status::CHANGEABLE) that have not expired at ?4,
-- counted no further than the limit ?5. Finished tasks do not count against a limit.
SELECT count(*)
FROM (
    SELECT 1 FROM tasks
    WHERE status IN (?2, ?3)
      AND owner = ?1
      AND (expires_at IS NULL OR expires_at > ?4)
    LIMIT ?5
)
