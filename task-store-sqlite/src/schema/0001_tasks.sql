-- Schema version 1: one row per task, holding the whole TaskRecord.
-- Timestamps are integer milliseconds since the Unix epoch.

-- Marks the file as a task store ('MCPT'), so a foreign database is told apart from ours.
PRAGMA application_id = 1296257108;

CREATE TABLE tasks (
    task_id          TEXT    NOT NULL PRIMARY KEY,
    owner            TEXT,
    status           TEXT    NOT NULL
        CHECK (status IN ('working', 'input_required', 'completed', 'failed', 'cancelled')),
    status_message   TEXT,
    created_at       INTEGER NOT NULL,
    -- Strictly increases with every change: the task's version.
    last_updated_at  INTEGER NOT NULL,
    -- Effective ttl in ms; NULL means unlimited.
    ttl              INTEGER,
    -- created_at + ttl; NULL means never. Every read filters on it.
    expires_at       INTEGER,
    poll_interval    INTEGER,
    -- The ttl as requested (a u64 kept as its i64 bit pattern).
    requested_ttl    INTEGER,
    -- JSON: {"result": {...}} or {"error": {...}}; set exactly for completed and failed.
    outcome          TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    revision         TEXT    NOT NULL,
    -- JSON: {"method": ..., "params": ...}.
    request          TEXT,
    -- JSON object of pending input requests by key.
    input_requests   TEXT    NOT NULL DEFAULT '{}'
) STRICT;

-- list over every task: a keyset range scan in listing order.
CREATE INDEX tasks_by_creation ON tasks (created_at, task_id);

-- list of one owner, and the per-owner limit: a keyset range scan within the owner.
CREATE INDEX tasks_by_owner ON tasks (owner, created_at, task_id) WHERE owner IS NOT NULL;

-- Expiry sweeps and the expired count: a range scan from the oldest expiry.
CREATE INDEX tasks_by_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL;
