-- A page of every live task after the keyset position ($1, $2), in listing order.
SELECT task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval
FROM tasks
WHERE (created_at, task_id) > ($1, $2)
  AND (expires_at IS NULL OR expires_at > $3)
ORDER BY created_at, task_id
LIMIT $4
