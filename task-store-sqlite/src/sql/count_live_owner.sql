-- An owner's live tasks, counted no further than the limit ?3.
SELECT count(*)
FROM (
    SELECT 1 FROM tasks
    WHERE owner = ?1 AND (expires_at IS NULL OR expires_at > ?2)
    LIMIT ?3
)
