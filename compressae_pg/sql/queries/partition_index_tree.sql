-- Every relation of a partitioned table's tree (the table, its partitioned children, its leaf
-- partitions), each with the index that belongs to the attachment's partitioned index: the index
-- of the attachment's name on the table itself and every index attached under it (the index's own partition
-- tree). Only the attachment's table is looked at, so a name an attachment row holds reaches no
-- other relation. Parents come before their children.
WITH root AS (
    SELECT c.oid
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
    WHERE n.nspname = %(schema)s AND c.relname = %(name)s AND i.indrelid = %(table)s::oid
),
attached AS (
    SELECT i.indrelid, i.indexrelid, i.indisvalid, i.indisready
    FROM root
    CROSS JOIN LATERAL pg_catalog.pg_partition_tree(root.oid::regclass) t
    JOIN pg_catalog.pg_index i ON i.indexrelid = t.relid
)
SELECT p.relid::oid::bigint, n.nspname::text, c.relname::text, p.parentrelid::oid::bigint, p.isleaf,
       ic.relname::text, a.indisvalid, a.indisready, coalesce(pg_catalog.pg_relation_size(a.indexrelid), 0)
FROM pg_catalog.pg_partition_tree(%(table)s::oid::regclass) p
JOIN pg_catalog.pg_class c ON c.oid = p.relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN attached a ON a.indrelid = p.relid
LEFT JOIN pg_catalog.pg_class ic ON ic.oid = a.indexrelid
ORDER BY p.level, n.nspname, c.relname
