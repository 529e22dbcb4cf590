SELECT pg_advisory_xact_lock(hashtextextended('compressae.models:' || %(name)s, 0))
