-- A batch of rows found by their NULL code is its worker's while its transaction lasts, named by its first key: a
-- second worker reading the same rows finds the lock taken and looks further on. Correctness never rests on it (the
-- write matches the version read); it only keeps workers from encoding the same rows. The attachment's salt (0025)
-- keeps other roles from computing the keys; a key one saw held in pg_locks stays the same, so a worker that finds
-- a batch held looks at the holder (lock_holder.sql) and takes the batch anyway from a role that may not work on it.
WITH k AS (SELECT pg_catalog.hashtextextended('compressae.pending batch:' || %(attachment)s::bigint || ':' || %(salt)s::bigint || ':' || %(key)s, 0) AS key)
SELECT pg_catalog.pg_try_advisory_xact_lock(k.key), k.key FROM k
