-- Deletes a task if it is visible to the caller and unexpired.
DELETE FROM tasks
WHERE task_id = ?1
  AND (?2 IS NULL OR owner = ?2)
  AND (expires_at IS NULL OR expires_at > ?3)
