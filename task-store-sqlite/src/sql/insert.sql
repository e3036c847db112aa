-- Stores a new task. An existing row with the same id blocks it unless that row has expired,
-- in which case the new task replaces it: expired ids are free again. No row changed means
-- the id is taken by a live task.
INSERT INTO tasks (
    task_id, owner, status, status_message, created_at, last_updated_at, ttl, expires_at,
    poll_interval, requested_ttl, outcome, cancel_requested, revision, request, input_requests
)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, 0, ?11, ?12, ?13)
ON CONFLICT (task_id) DO UPDATE SET
    owner = excluded.owner,
    status = excluded.status,
    status_message = excluded.status_message,
    created_at = excluded.created_at,
    last_updated_at = excluded.last_updated_at,
    ttl = excluded.ttl,
    expires_at = excluded.expires_at,
    poll_interval = excluded.poll_interval,
    requested_ttl = excluded.requested_ttl,
    outcome = NULL,
    cancel_requested = 0,
    revision = excluded.revision,
    request = excluded.request,
    input_requests = excluded.input_requests,
    input_keys_used = '[]',
    input_responses = '{}',
    finished = 0
WHERE tasks.expires_at <= ?5
