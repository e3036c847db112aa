-- The versions (lastUpdatedAt in ms) of the live tasks among $1: the fallback for lost
-- wake-ups. A task missing from the answer is gone.
SELECT task_id, last_updated_at
FROM tasks
WHERE task_id = ANY ($1)
  AND (expires_at IS NULL OR expires_at > $2)
