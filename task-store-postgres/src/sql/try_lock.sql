-- Takes the transaction-scoped advisory lock named $1 if it is free: whether it was.
SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))
