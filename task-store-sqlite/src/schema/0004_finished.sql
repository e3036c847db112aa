-- Schema version 4: the limits count unfinished tasks through a partial index keyed by owner
-- and filtered on a `finished` flag that only a change ending the task writes. A move between
-- working and input_required then leaves every index alone (one page written instead of
-- several), and ending a task removes one index entry.

-- 1 once the task is completed, failed or cancelled; such a task never changes again.
ALTER TABLE tasks ADD COLUMN finished INTEGER NOT NULL DEFAULT 0 CHECK (finished IN (0, 1));

UPDATE tasks SET finished = 1 WHERE status IN ('completed', 'failed', 'cancelled');

DROP INDEX tasks_by_status;

-- The per-owner limit (a range within the owner) and the total limit (the whole index); only
-- unfinished tasks have an entry, and the count reads no table row.
CREATE INDEX tasks_unfinished ON tasks (owner, expires_at) WHERE finished = 0;
