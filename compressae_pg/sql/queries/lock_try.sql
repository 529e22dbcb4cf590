-- One operation of a kind per attachment at a time: a session-level advisory lock (lock_key.sql).
SELECT pg_catalog.pg_try_advisory_lock(%(key)s)
