SELECT task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval
FROM tasks
WHERE task_id = $1
