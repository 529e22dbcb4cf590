-- The backend holding an attachment's advisory lock of a purpose (a bigint advisory lock shows in
-- pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid = 1), or no row when none does.
-- Of another role's session only the pid and the role show (the rest is NULL without pg_read_all_stats).
WITH k AS (SELECT hashtextextended('compressae.' || %(purpose)s || ':' || %(attachment)s::bigint, 0) AS key)
SELECT l.pid, a.application_name, a.backend_start, a.usename::text
FROM pg_locks l
CROSS JOIN k
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = (k.key >> 32) & 4294967295
  AND l.objid::bigint = k.key & 4294967295
