-- The compare-and-set for a change applied to the whole record by task_core's apply_change:
-- writes every column a change may touch, only while the task is still at the version $2 it
-- was read at (and visible, changeable, unexpired). No row means it changed meanwhile. Queues
-- the wake-up on channel $12 like update.sql.
WITH changed AS (
    UPDATE tasks SET
        status = $6,
        status_message = $7,
        outcome = $8,
        cancel_requested = $9,
        input_requests = $10,
        last_updated_at = $11
    WHERE task_id = $1
      AND last_updated_at = $2
      AND status = ANY ($3)
      AND ($4::text IS NULL OR owner = $4)
      AND (expires_at IS NULL OR expires_at > $5)
    RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval,
              owner
)
SELECT changed.*, pg_notify($12, changed.last_updated_at || ' ' || changed.task_id)::text
FROM changed
