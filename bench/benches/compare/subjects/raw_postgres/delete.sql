DELETE FROM tasks WHERE task_id = ANY ($1)
