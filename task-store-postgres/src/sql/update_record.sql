-- The compare-and-set of the record path (task_core::backend::update_by_record): writes every
-- column a change may touch in a record task-core changed, only while the task is still at
-- the version $2 it was read at (and visible, unexpired). No row means another change came
-- first. Its wake-up is sent after the commit, as update.sql's.
WITH changed AS (
    UPDATE tasks SET
        status = $6,
        status_message = $7,
        outcome = $8,
        cancel_requested = $9,
        input_requests = $10,
        input_keys_used = $12,
        input_responses = $13,
        last_updated_at = $11
    WHERE task_id = $1
      AND last_updated_at = $2
      AND status = ANY ($3)
      AND ($4::text IS NULL OR owner = $4)
      AND (expires_at IS NULL OR expires_at > $5)
    RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval,
              owner
)
SELECT changed.* FROM changed
