-- Why a compare-and-set matched no row: the task's status if it is visible, else no row.
SELECT status
FROM tasks
WHERE task_id = $1
  AND ($2::text IS NULL OR owner = $2)
  AND (expires_at IS NULL OR expires_at > $3)
