-- One row per task, the columns a task store needs; listing by (owner, created_at, task_id).
CREATE TABLE IF NOT EXISTS tasks (
    task_id         TEXT PRIMARY KEY NOT NULL,
    owner           TEXT,
    status          TEXT NOT NULL,
    status_message  TEXT,
    created_at      INTEGER NOT NULL,
    last_updated_at INTEGER NOT NULL,
    ttl             INTEGER,
    poll_interval   INTEGER,
    outcome         TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner, created_at, task_id);
