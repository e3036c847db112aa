-- Announces the changes in $2 on channel $1, one notification each, in one transaction: the
-- announcements of concurrent writes share one commit.
SELECT pg_notify($1, payload)::text
FROM unnest($2::text[]) AS payload
