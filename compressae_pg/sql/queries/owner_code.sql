-- A relation a command would write or read (the table, or a partition under it) whose owner is neither this session's
-- user nor a superuser, when this session could act as a superuser: its first, with its owner (no row otherwise).
-- Writing codes fires the owner's triggers, generated columns and index expressions, and reading plans the owner's
-- index predicates (an IMMUTABLE function of the owner's is evaluated at plan time): in such a session that code
-- would run with a superuser's rights, which no SET ROLE contains, since the code can RESET ROLE to the session's
-- user. So a session counts as a superuser's when its user or its current role is a member of a superuser role.
WITH t AS (SELECT c.oid
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %(schema)s AND c.relname = %(name)s)
SELECT pg_catalog.format('%%I.%%I', cn.nspname, c.relname), r.rolname::text
FROM t
CROSS JOIN LATERAL (SELECT t.oid AS relid UNION ALL SELECT p.relid FROM pg_catalog.pg_partition_tree(t.oid) p) tree
JOIN pg_catalog.pg_class c ON c.oid = tree.relid
JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
WHERE r.rolname <> session_user AND NOT r.rolsuper
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles s
              WHERE s.rolsuper AND (pg_catalog.pg_has_role(session_user, s.oid, 'MEMBER') OR pg_catalog.pg_has_role(current_user, s.oid, 'MEMBER')))
ORDER BY c.oid = t.oid DESC, 1
LIMIT 1
