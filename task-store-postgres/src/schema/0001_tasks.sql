-- Schema version 1: one row per task, holding the whole TaskRecord, in the store's schema
-- (the connection's search_path). Timestamps are bigint milliseconds since the Unix epoch.

-- Marks the schema as a task store's and holds its version.
CREATE TABLE task_store_schema (
    application text    NOT NULL,
    version     integer NOT NULL
);

CREATE TABLE tasks (
    -- Byte order ("C"), so listing breaks ties by id the same way on every server.
    task_id          text COLLATE "C" NOT NULL PRIMARY KEY,
    owner            text COLLATE "C",
    status           text    NOT NULL
        CHECK (status IN ('working', 'input_required', 'completed', 'failed', 'cancelled')),
    -- UTF-8 bytes: a message may hold NUL, which a text column cannot.
    status_message   bytea,
    created_at       bigint  NOT NULL,
    -- Strictly increases with every change: the task's version.
    last_updated_at  bigint  NOT NULL,
    -- Effective ttl in ms; NULL means unlimited.
    ttl              bigint CHECK (ttl >= 0),
    -- created_at + ttl; NULL means never. Every read filters on it.
    expires_at       bigint,
    poll_interval    bigint CHECK (poll_interval >= 0),
    -- The ttl as requested (a u64 kept as its i64 bit pattern).
    requested_ttl    bigint,
    -- JSON text, exactly as serialised: {"result": {...}} or {"error": {...}}; set exactly
    -- for completed and failed.
    outcome          text,
    cancel_requested boolean NOT NULL DEFAULT false,
    revision         text    NOT NULL,
    -- JSON text: {"method": ..., "params": ...}.
    request          text,
    -- JSON text: object of pending input requests by key.
    input_requests   text    NOT NULL DEFAULT '{}'
);

-- list over every task: a keyset range scan in listing order.
CREATE INDEX tasks_by_creation ON tasks (created_at, task_id);

-- list of one owner: a keyset range scan within the owner.
CREATE INDEX tasks_by_owner ON tasks (owner, created_at, task_id) WHERE owner IS NOT NULL;

-- Expiry sweeps: a range scan from the oldest expiry.
CREATE INDEX tasks_by_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL;

-- The limits count unfinished tasks, by status then owner: neither count reads a table row nor
-- any finished task's entry.
CREATE INDEX tasks_by_status ON tasks (status, owner, expires_at);
