-- Waits for the transaction-scoped advisory lock named $1 (creates that check a limit take
-- it, so two of them never both see room for one more task).
SELECT pg_advisory_xact_lock(hashtextextended($1, 0))
