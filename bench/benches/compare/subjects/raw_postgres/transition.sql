UPDATE tasks
SET status = $2,
    status_message = coalesce($3, status_message),
    outcome = coalesce($4, outcome),
    last_updated_at = greatest($5, last_updated_at + 1)
WHERE task_id = $1 AND status IN ('working', 'input_required')
RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval
