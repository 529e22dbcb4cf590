-- The catalog-only steps of a partitioned index (the index ON ONLY a partitioned table, which takes a
-- SHARE lock on it, and ATTACH PARTITION) wait at most this long for their lock, in their own
-- transaction: queued behind a long write they would block every write that comes after them.
SELECT set_config('lock_timeout', %(lock_timeout)s, true)
