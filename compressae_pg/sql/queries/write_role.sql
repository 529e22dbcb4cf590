-- The owner of the relation a batch's codes are written to (or that status --exact reads), when the current role
-- is a superuser that is not it (NULL otherwise). Writing codes fires the owner's triggers, generated columns and
-- index expressions, reading plans the owner's index predicates, and a superuser's write or read would run that code
-- with a superuser's rights, which no SET ROLE contains (the code can RESET ROLE, or leave a setting or a pg_temp
-- object that the superuser's next statement runs): fill/worker.refuse_owner_code refuses it, fill/state skips it.
SELECT r.rolname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
WHERE n.nspname = %(schema)s AND c.relname = %(name)s
  AND r.rolname <> current_user
  AND (SELECT u.rolsuper FROM pg_catalog.pg_roles u WHERE u.rolname = current_user)
