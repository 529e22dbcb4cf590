-- The backend holding an advisory lock key (a bigint advisory lock shows in pg_locks as classid = high 32 bits,
-- objid = low 32 bits, objsubid = 1), or no row when none does; and whether its role may work on the attachment.
-- Of another role's session only the pid and the role show (the rest is NULL without pg_read_all_stats).
SELECT l.pid, a.application_name, a.backend_start, a.usename::text,
       a.usesysid IS NULL OR compressae.may_work_on(%(attachment)s, 'UPDATE', a.usesysid::regrole)
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  AND l.classid::bigint = (%(key)s::bigint >> 32) & 4294967295
  AND l.objid::bigint = %(key)s::bigint & 4294967295
