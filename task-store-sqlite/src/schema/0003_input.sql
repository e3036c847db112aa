-- Schema version 3: the tasks extension's input rounds. Rows of earlier versions have received
-- no answers, and have used the keys of the requests they hold pending.

-- JSON array of every input request key the task has used, pending or answered.
ALTER TABLE tasks ADD COLUMN input_keys_used TEXT NOT NULL DEFAULT '[]';

-- JSON object of answers received, by key, for the worker to read.
ALTER TABLE tasks ADD COLUMN input_responses TEXT NOT NULL DEFAULT '{}';

-- The keys of requests an earlier row holds pending count as used: none is asked again.
UPDATE tasks
SET input_keys_used = (
    SELECT json_group_array(key) FROM (SELECT key FROM json_each(tasks.input_requests) ORDER BY key)
)
WHERE input_requests <> '{}';
