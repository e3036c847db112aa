-- Live tasks: every row less the expired ones not yet swept (a range scan on the expiry index).
SELECT (SELECT count(*) FROM tasks)
     - (SELECT count(*) FROM tasks WHERE expires_at <= ?1)
