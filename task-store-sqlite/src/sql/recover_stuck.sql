-- Fails every live, non-terminal task (?1, ?2: backend::CHANGEABLE) last updated before ?3,
-- dropping its pending input requests and unread answers and marking it finished as end.sql
-- does, and returns each as update.sql does, so that its waiters get the failed task.
UPDATE tasks SET
    status = ?4,
    status_message = ?5,
    outcome = ?6,
    input_requests = '{}',
    input_responses = '{}',
    finished = 1,
    last_updated_at = max(?7, last_updated_at + 1)
WHERE status IN (?1, ?2)
  AND last_updated_at < ?3
  AND (expires_at IS NULL OR expires_at > ?7)
RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval, owner
