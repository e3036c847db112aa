-- Deletes a task if it is visible to the caller and unexpired; its waiters are woken after the
-- commit.
WITH gone AS (
    DELETE FROM tasks
    WHERE task_id = $1
      AND ($2::text IS NULL OR owner = $2)
      AND (expires_at IS NULL OR expires_at > $3)
    RETURNING task_id
)
SELECT gone.task_id FROM gone
