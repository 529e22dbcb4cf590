-- The heap relations that hold a table's rows (the table itself, or the leaf partitions of a
-- partitioned table), with their size in pages and a rows-per-page estimate from the statistics.
WITH parts AS (
    SELECT relid FROM pg_partition_tree(%(oid)s::oid::regclass) WHERE isleaf
    UNION ALL
    SELECT %(oid)s::oid::regclass
    WHERE NOT EXISTS (SELECT 1 FROM pg_partition_tree(%(oid)s::oid::regclass))
)
SELECT n.nspname::text AS schema, c.relname::text AS name,
       (pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint AS pages,
       CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages END AS rows_per_page
FROM parts p
JOIN pg_class c ON c.oid = p.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
ORDER BY n.nspname, c.relname
