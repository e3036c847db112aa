-- insert.sql for several new tasks at once, one array per column (distinct ids): the creates
-- of concurrent callers share one statement and one commit. Each row is decided alone, as
-- insert.sql decides it; the ids returned are the tasks stored.
INSERT INTO tasks (
    task_id, owner, status, status_message, created_at, last_updated_at, ttl, expires_at,
    poll_interval, requested_ttl, outcome, cancel_requested, revision, request, input_requests
)
SELECT task_id, owner, status, status_message, created_at, last_updated_at, ttl, expires_at,
       poll_interval, requested_ttl, NULL, false, revision, request, input_requests
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $6::bigint[],
            $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[],
            $13::text[])
    AS new (task_id, owner, status, status_message, created_at, last_updated_at, ttl,
            expires_at, poll_interval, requested_ttl, revision, request, input_requests)
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
    cancel_requested = false,
    revision = excluded.revision,
    request = excluded.request,
    input_requests = excluded.input_requests,
    input_keys_used = '[]',
    input_responses = '{}'
WHERE tasks.expires_at <= excluded.created_at
RETURNING task_id
