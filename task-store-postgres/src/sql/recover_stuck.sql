-- Fails every live, non-terminal task ($1: backend::CHANGEABLE) last updated before $2,
-- dropping its pending input requests and unread answers as every ending change does,
-- and returns each as update.sql does; their wake-ups are sent after the commit.
WITH stuck AS (
    UPDATE tasks SET
        status = $3,
        status_message = $4,
        outcome = $5,
        input_requests = '{}',
        input_responses = '{}',
        last_updated_at = greatest($6, last_updated_at + 1)
    WHERE status = ANY ($1)
      AND last_updated_at < $2
      AND (expires_at IS NULL OR expires_at > $6)
    RETURNING task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval,
              owner
)
SELECT stuck.* FROM stuck
