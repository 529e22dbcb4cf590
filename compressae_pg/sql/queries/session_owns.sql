-- Whether this session's login role owns the table and acts as it (its session user and current role are the
-- owner too: a session that set its role or session authorization to the owner is another role's, which the owner's
-- code could set back). Planning any query on a table runs code its owner chose (an index predicate of an
-- IMMUTABLE function of the owner's is evaluated at plan time), with the planning role's rights: a command reads
-- another role's table only where reading it is the command's job.
SELECT c.relowner = ALL (SELECT a.usesysid FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid()
                         UNION ALL SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname IN (session_user, current_user))
FROM pg_catalog.pg_class c
WHERE c.oid = %(table)s::pg_catalog.oid
