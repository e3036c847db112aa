-- Schema version 2: the limits count unfinished tasks only, by status then owner. The index
-- covers both counts, so neither reads a table row nor any finished task's entry.
CREATE INDEX tasks_by_status ON tasks (status, owner, expires_at);
