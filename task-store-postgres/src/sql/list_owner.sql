-- A page of one owner's live tasks after the keyset position ($2, $3), in listing order.
SELECT task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval
FROM tasks
WHERE owner = $1
  AND (created_at, task_id) > ($2, $3)
  AND (expires_at IS NULL OR expires_at > $4)
ORDER BY created_at, task_id
LIMIT $5
