-- The views and rules (of any role, temporary ones included) that depend on columns of a table or of a partition or
-- inheritance child under it: a DROP COLUMN of any of them fails while they exist, and only their owner or a superuser can drop them.
WITH RECURSIVE tree AS (SELECT %(table)s::pg_catalog.oid AS relid
                        UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.relid)
SELECT DISTINCT v.oid::pg_catalog.regclass::text AS object, pg_catalog.pg_get_userbyid(v.relowner)::text AS owner, a.attname::text AS column
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
  AND d.refobjid IN (SELECT relid FROM tree)
  AND v.oid NOT IN (SELECT relid FROM tree)
  AND a.attname = ANY (%(columns)s)
ORDER BY 1, 3
