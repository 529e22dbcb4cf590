-- The name partitions.py gives one partition's index, as the catalog has it: whether any relation
-- holds that name in the partition's schema, and, when it is an index of that very partition, its
-- validity and the backend building it right now (an interrupted concurrent build leaves it invalid).
SELECT c.oid IS NOT NULL, i.indrelid IS NOT DISTINCT FROM %(table)s::oid, coalesce(i.indisvalid, false),
       (SELECT p.pid FROM pg_catalog.pg_stat_progress_create_index p WHERE p.index_relid = c.oid LIMIT 1)
FROM (SELECT 1) one
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = %(schema)s
LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = %(name)s
LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
