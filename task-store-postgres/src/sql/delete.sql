-- Deletes a task if it is visible to the caller and unexpired, and queues the wake-up of its
-- waiters on channel $4 ("gone <task id>").
WITH gone AS (
    DELETE FROM tasks
    WHERE task_id = $1
      AND ($2::text IS NULL OR owner = $2)
      AND (expires_at IS NULL OR expires_at > $3)
    RETURNING task_id
)
SELECT pg_notify($4, 'gone ' || gone.task_id)::text
FROM gone
