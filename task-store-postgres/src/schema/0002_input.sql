-- Schema version 2: the tasks extension's input rounds. Rows of version 1 read as tasks that
-- never asked for input.

-- JSON text: array of every input request key the task has used, pending or answered.
ALTER TABLE tasks ADD COLUMN input_keys_used text NOT NULL DEFAULT '[]';

-- JSON text: object of answers received, by key, for the worker to read.
ALTER TABLE tasks ADD COLUMN input_responses text NOT NULL DEFAULT '{}';
