-- Whether a live task holds the id.
SELECT EXISTS (
    SELECT 1 FROM tasks WHERE task_id = $1 AND (expires_at IS NULL OR expires_at > $2)
)
