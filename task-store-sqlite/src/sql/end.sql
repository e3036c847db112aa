-- update.sql for a change that ends the task (completed, failed, cancelled), with the same
-- arguments and conditions: it also marks the row finished, which drops its entry from the
-- index the limits count with, and drops its pending input requests and unread answers.
UPDATE tasks SET
    status = coalesce(?6, status),
    status_message = coalesce(?7, status_message),
    outcome = coalesce(?8, outcome),
    cancel_requested = cancel_requested | ?9,
    input_requests = '{}',
    input_responses = '{}',
    finished = 1,
    last_updated_at = max(?5, last_updated_at + 1)
WHERE task_id = ?1
  AND status IN (?2, ?3)
  AND (?4 IS NULL OR owner = ?4)
  AND (expires_at IS NULL OR expires_at > ?5)
  AND (NOT ?10 OR input_requests = '{}')
  AND (ttl IS NULL OR ttl >= 0)
  AND (poll_interval IS NULL OR poll_interval >= 0)
RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval, owner
