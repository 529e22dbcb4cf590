-- A relation a command would write or read (the table, or a partition or inheritance child under it: a query on the
-- parent reads and writes them too) whose owner is not this session's login role and not a superuser, when this
-- session can act as a superuser: its first, with its owner (no row otherwise). Writing codes fires the owner's
-- triggers, generated columns and index expressions, and reading plans the owner's index predicates (an IMMUTABLE
-- function of the owner's is evaluated at plan time): in such a session that code would run with a superuser's
-- rights, which no SET ROLE or SET SESSION AUTHORIZATION contains, since the code can set them back to the login
-- role. So a session counts as a superuser's when its login role, its session user or its current role is a member of
-- a superuser role or of a predefined role that reaches a superuser's rights (server programs and files).
WITH RECURSIVE t AS (SELECT c.oid
                     FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = %(schema)s AND c.relname = %(name)s),
tree AS (SELECT t.oid AS relid, 0 AS depth FROM t
         UNION SELECT i.inhrelid, tree.depth + 1 FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.relid),
login AS (SELECT a.usesysid AS oid FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid())
SELECT pg_catalog.format('%%I.%%I', cn.nspname, c.relname), r.rolname::text
FROM tree
JOIN pg_catalog.pg_class c ON c.oid = tree.relid
JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
WHERE r.oid IS DISTINCT FROM (SELECT oid FROM login) AND NOT r.rolsuper
  AND EXISTS (SELECT 1
              FROM pg_catalog.pg_roles s, (SELECT oid FROM login UNION SELECT u.oid FROM pg_catalog.pg_roles u
                                           WHERE u.rolname IN (session_user, current_user)) AS me
              WHERE (s.rolsuper OR s.rolname IN ('pg_execute_server_program', 'pg_write_server_files', 'pg_read_server_files'))
                AND pg_catalog.pg_has_role(me.oid, s.oid, 'MEMBER'))
ORDER BY tree.depth, 1
LIMIT 1
