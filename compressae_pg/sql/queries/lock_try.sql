-- One operation of a kind ('backfill', 'index') per attachment at a time: a session-level
-- advisory lock keyed by both.
SELECT pg_try_advisory_lock(hashtextextended('compressae.' || %(purpose)s || ':' || %(attachment)s::bigint, 0))
