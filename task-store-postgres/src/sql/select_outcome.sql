-- One task's outcome (NULL until it is completed or failed), if visible and unexpired.
SELECT outcome
FROM tasks
WHERE task_id = $1
  AND ($2::text IS NULL OR owner = $2)
  AND (expires_at IS NULL OR expires_at > $3)
