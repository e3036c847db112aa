-- Deletes up to ?2 tasks expired at ?1, oldest expiry first; batches keep each write short.
DELETE FROM tasks
WHERE rowid IN (
    SELECT rowid FROM tasks WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2
)
