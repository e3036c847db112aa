INSERT INTO tasks (task_id, owner, status, created_at, last_updated_at, ttl, poll_interval)
VALUES (?1, ?2, 'working', ?3, ?3, ?4, 500)
