-- The compare-and-set behind the common changes that leave the task unfinished
-- (task_core::backend::plan; end.sql takes the ones that end it). It applies only while the
-- task is visible to the caller and its status is one the status machine lets change (?2, ?3:
-- backend::CHANGEABLE), and, when ?10 is set (a move to working), while no input request is
-- pending. It does not write `finished`, so it changes no index entry. NULL arguments keep a
-- column; lastUpdatedAt becomes max(now, previous + 1 ms), as task_core::time::next_update
-- says. The owner comes back after the task's columns so waiters woken with the written task
-- can check their scope.
-- A row that could not be read back (the table is STRICT, so only a negative duration
-- another program wrote) is left alone, so a change that lands always returns a task.
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
  AND (NOT ?10 OR input_requests = '{}')
  AND (ttl IS NULL OR ttl >= 0)
  AND (poll_interval IS NULL OR poll_interval >= 0)
RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval, owner
