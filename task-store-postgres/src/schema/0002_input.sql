-- Schema version 2: the tasks extension's input rounds. Rows of version 1 have received no
-- answers, and have used the keys of the requests they hold pending.

-- JSON text: array of every input request key the task has used, pending or answered.
ALTER TABLE tasks ADD COLUMN input_keys_used text NOT NULL DEFAULT '[]';

-- JSON text: object of answers received, by key, for the worker to read.
ALTER TABLE tasks ADD COLUMN input_responses text NOT NULL DEFAULT '{}';

-- The keys of requests a version 1 row holds pending count as used: none is asked again.
UPDATE tasks
SET input_keys_used = (SELECT json_agg(key ORDER BY key) FROM json_object_keys(input_requests::json) AS key)::text
WHERE input_requests <> '{}';
