-- An attachment's advisory lock key of a purpose ('backfill', 'index', 'pending index') and the turn it hashes with
-- the attachment's salt (0025): no row for a role that may not work on the attachment, which so cannot compute it.
SELECT t.turn, pg_catalog.hashtextextended('compressae.' || %(purpose)s || ':' || %(attachment)s::bigint || ':' || s.salt || ':' || t.turn, 0)
FROM compressae.lock_salts s
CROSS JOIN LATERAL (SELECT coalesce((s.turns OPERATOR(pg_catalog.->>) %(purpose)s)::bigint, 0) AS turn) t
WHERE s.attachment_id = %(attachment)s
