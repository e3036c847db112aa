-- Deletes up to $2 tasks expired at $1, oldest expiry first; batches keep each write short,
-- and rows another purge is deleting are skipped rather than waited for.
DELETE FROM tasks
WHERE task_id IN (
    SELECT task_id FROM tasks
    WHERE expires_at <= $1
    ORDER BY expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
