-- Schema version 3: the tasks extension's input rounds. Rows of earlier versions read as
-- tasks that never asked for input.

-- JSON array of every input request key the task has used, pending or answered.
ALTER TABLE tasks ADD COLUMN input_keys_used TEXT NOT NULL DEFAULT '[]';

-- JSON object of answers received, by key, for the worker to read.
ALTER TABLE tasks ADD COLUMN input_responses TEXT NOT NULL DEFAULT '{}';
