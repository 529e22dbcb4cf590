-- Whether the current role owns the table, logged in as itself (a session's user that SET ROLE to the owner is
-- another role, which the owner's code could RESET ROLE back to). Planning any query on a table runs code its owner chose (an index
-- predicate of an IMMUTABLE function of the owner's is evaluated at plan time), with the planning role's rights, and
-- no SET ROLE contains it: a command reads another role's table only where reading it is the command's job.
SELECT c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
       AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
FROM pg_catalog.pg_class c
WHERE c.oid = %(table)s::pg_catalog.oid
