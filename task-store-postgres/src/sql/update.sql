-- The compare-and-set behind the common changes (task_core::backend::plan). It applies only
-- while the task is visible to the caller and its status is one the status machine lets
-- change ($2: backend::CHANGEABLE), and, when $10 is set (a move to working), while no input
-- request is pending. A change that ends the task ($9) drops its pending input requests and
-- unread answers. NULL arguments keep a column; lastUpdatedAt becomes
-- max(now, previous + 1 ms), as task_core::backend::time::next_update says. The
-- wake-up is sent once the change has committed (wake.rs). The owner comes back after the task's columns so waiters
-- woken with the written task can check their scope.
WITH changed AS (
    UPDATE tasks SET
        status = coalesce($5, status),
        status_message = coalesce($6, status_message),
        outcome = coalesce($7, outcome),
        cancel_requested = cancel_requested OR $8,
        input_requests = CASE WHEN $9 THEN '{}' ELSE input_requests END,
        input_responses = CASE WHEN $9 THEN '{}' ELSE input_responses END,
        last_updated_at = greatest($4, last_updated_at + 1)
    WHERE task_id = $1
      AND status = ANY ($2)
      AND ($3::text IS NULL OR owner = $3)
      AND (expires_at IS NULL OR expires_at > $4)
      AND (NOT $10 OR input_requests = '{}')
    RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval,
              owner
)
SELECT changed.* FROM changed
