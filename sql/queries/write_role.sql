-- The role a batch's write of codes runs as (write_as.sql): the owner of the relation written, when the current role is not it and may SET ROLE to it (a
-- superuser always may): the owner's triggers, generated columns and index expressions then run with the
-- owner's rights, as in its own writes, never with a superuser's. NULL: the current role writes (it owns
-- the relation, or may not act as its owner).
SELECT (SELECT r.rolname
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
        WHERE n.nspname = %(schema)s AND c.relname = %(name)s
          AND r.rolname <> current_user
          AND pg_catalog.pg_has_role(r.oid, CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000
                                                 THEN 'SET' ELSE 'MEMBER' END))
