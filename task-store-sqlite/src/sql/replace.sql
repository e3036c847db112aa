-- The compare-and-set of the record path (task_core::backend::update_by_record): writes a
-- record that task-core changed, only if the task is still visible to the caller, unexpired,
-- and unchanged since it was read (its lastUpdatedAt is still ?3). Returns the task as
-- update.sql does, or no row when another change came first. The record path never ends a
-- task, so `finished` stays 0. Like update.sql it leaves alone a row that could not be read
-- back, so one autocommit statement suffices.
UPDATE tasks SET
    status = ?5,
    status_message = ?6,
    outcome = ?7,
    cancel_requested = ?8,
    input_requests = ?9,
    input_keys_used = ?10,
    input_responses = ?11,
    last_updated_at = ?12
WHERE task_id = ?1
  AND (?2 IS NULL OR owner = ?2)
  AND last_updated_at = ?3
  AND (expires_at IS NULL OR expires_at > ?4)
  AND (ttl IS NULL OR ttl >= 0)
  AND (poll_interval IS NULL OR poll_interval >= 0)
RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval, owner
