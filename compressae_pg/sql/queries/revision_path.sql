-- The schema the revisions find pgvector's types and operators in: the one it is installed in, else the one
-- 0001 installs it in (the first of the session's path). And what in it could outrank a built-in that a revision
-- calls: the functions with arguments and the operators that belong to no extension and to a role that is not
-- superuser (a superuser's own needs no planting). Zero-argument functions (the sync triggers') never outrank
-- pg_catalog's, which comes first on the revisions' path.
WITH s AS (
    SELECT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'vector') AS installed,
           coalesce((SELECT e.extnamespace FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'vector'),
                    (SELECT n.oid FROM pg_catalog.pg_namespace n
                     WHERE n.nspname OPERATOR(pg_catalog.=) (pg_catalog.current_schemas(false))[1])) AS oid
), foreign_objects AS (
    SELECT pg_catalog.format('function %I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS what, p.proowner AS owner, p.oid AS objid,
           'pg_catalog.pg_proc'::pg_catalog.regclass AS classid
    FROM s JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.oid
         JOIN pg_catalog.pg_proc p ON p.pronamespace OPERATOR(pg_catalog.=) s.oid
    WHERE p.pronargs OPERATOR(pg_catalog.>) 0
    UNION ALL
    SELECT pg_catalog.format('operator %I.%s(%s, %s)', n.nspname, o.oprname, pg_catalog.format_type(o.oprleft, NULL),
                           pg_catalog.format_type(o.oprright, NULL)), o.oprowner, o.oid,
           'pg_catalog.pg_operator'::pg_catalog.regclass
    FROM s JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.oid
         JOIN pg_catalog.pg_operator o ON o.oprnamespace OPERATOR(pg_catalog.=) s.oid
)
SELECT n.nspname::pg_catalog.text, s.installed,
       ARRAY(SELECT f.what FROM foreign_objects f JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) f.owner
             WHERE NOT r.rolsuper
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                               WHERE d.classid OPERATOR(pg_catalog.=) f.classid AND d.objid OPERATOR(pg_catalog.=) f.objid
                                 AND d.deptype OPERATOR(pg_catalog.=) 'e')
             ORDER BY f.what)
FROM s JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.oid
