SELECT task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval
FROM tasks
WHERE owner = $1 AND (created_at, task_id) > ($2, $3)
ORDER BY created_at, task_id
LIMIT $4
