-- The compare-and-set behind every change. It applies only while the task is visible to the
-- caller and its status is one the status machine lets change (?2, ?3: backend::CHANGEABLE).
-- NULL arguments keep a column; lastUpdatedAt becomes max(now, previous + 1 ms), as
-- task_core::time::next_update says. The owner comes back after the task's columns so waiters
-- woken with the written task can check their scope.
UPDATE tasks SET
    status = coalesce(?6, status),
    status_message = coalesce(?7, status_message),
    outcome = coalesce(?8, outcome),
    cancel_requested = cancel_requested | ?9,
    last_updated_at = max(?5, last_updated_at + 1)
WHERE task_id = ?1
  AND status IN (?2, ?3)
  AND (?4 IS NULL OR owner = ?4)
  AND (expires_at IS NULL OR expires_at > ?5)
RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval, owner
