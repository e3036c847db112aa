-- The version (lastUpdatedAt) of each id in the JSON array ?1; NULL for a task that is gone.
SELECT ids.value, tasks.last_updated_at
FROM json_each(?1) AS ids
LEFT JOIN tasks ON tasks.task_id = ids.value
