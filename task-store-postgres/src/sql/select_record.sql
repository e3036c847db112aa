-- One task's whole record, if visible to the caller and unexpired.
SELECT task_id, status, status_message, created_at, last_updated_at, ttl, poll_interval,
       owner, requested_ttl, outcome, cancel_requested, revision, request, input_requests,
       input_keys_used, input_responses
FROM tasks
WHERE task_id = $1
  AND ($2::text IS NULL OR owner = $2)
  AND (expires_at IS NULL OR expires_at > $3)
