-- update.sql for several changes at once, one array per argument (distinct ids; $10 is
-- backend::CHANGEABLE): the changes of concurrent callers share one statement and one commit.
-- Each row is its own compare-and-set, decided as update.sql decides it; a change whose task
-- is not among the rows returned was refused.
WITH change AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::text[],
                $7::boolean[], $8::boolean[], $9::boolean[])
        AS change (task_id, owner, now, status, status_message, outcome, cancel_requested,
                   ends, needs_no_pending_input)
),
changed AS (
    UPDATE tasks SET
        status = coalesce(change.status, tasks.status),
        status_message = coalesce(change.status_message, tasks.status_message),
        outcome = coalesce(change.outcome, tasks.outcome),
        cancel_requested = tasks.cancel_requested OR change.cancel_requested,
        input_requests = CASE WHEN change.ends THEN '{}' ELSE tasks.input_requests END,
        input_responses = CASE WHEN change.ends THEN '{}' ELSE tasks.input_responses END,
        last_updated_at = greatest(change.now, tasks.last_updated_at + 1)
    FROM change
    WHERE tasks.task_id = change.task_id
      AND tasks.status = ANY ($10)
      AND (change.owner IS NULL OR tasks.owner = change.owner)
      AND (tasks.expires_at IS NULL OR tasks.expires_at > change.now)
      AND (NOT change.needs_no_pending_input OR tasks.input_requests = '{}')
    RETURNING tasks.task_id, tasks.status, tasks.status_message, tasks.created_at,
              tasks.last_updated_at, tasks.ttl, tasks.poll_interval, tasks.owner
)
SELECT changed.* FROM changed
