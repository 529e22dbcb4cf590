-- The backend holding an advisory lock key (a bigint advisory lock shows in pg_locks as classid = high 32 bits,
-- objid = low 32 bits, objsubid = 1), or no row when none does; and whether it may work on the attachment: its
-- session's user, or a role that user may SET ROLE to. A prepared transaction (no pid: no worker
-- prepares one) may not. Of another role's session only the pid and the role show (the rest is NULL without
-- pg_read_all_stats).
SELECT l.pid, a.application_name, a.backend_start, a.usename::text,
       a.usesysid IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles w
                                          WHERE (w.oid = a.usesysid OR pg_catalog.pg_has_role(a.usesysid, w.oid, may_set))
                                            AND compressae.may_work_on(%(attachment)s, 'UPDATE', w.oid::pg_catalog.regrole))
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
-- may SET ROLE to: 'SET' from PostgreSQL 16 (a membership granted WITH SET FALSE may not); membership before it
CROSS JOIN (SELECT CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END AS may_set) v
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  AND l.classid::bigint = (%(key)s::bigint >> 32) & 4294967295
  AND l.objid::bigint = %(key)s::bigint & 4294967295
