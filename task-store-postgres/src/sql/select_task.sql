-- One task, if visible to the caller ($2: owner, NULL for every owner) and unexpired at $3.
SELECT task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval
FROM tasks
WHERE task_id = $1
  AND ($2::text IS NULL OR owner = $2)
  AND (expires_at IS NULL OR expires_at > $3)
