SELECT pg_advisory_unlock(hashtextextended('compressae.' || %(purpose)s || ':' || %(attachment)s::bigint, 0))
