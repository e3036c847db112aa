INSERT INTO tasks (task_id, owner, status, created_at, last_updated_at, ttl, expires_at,
                   poll_interval, revision)
VALUES ($1, $2, 'working', $3, $3, $4, $3 + $4, 500, '2025-11-25')
