-- An attachment's HNSW index as the catalog sees it: valid (usable by queries), ready (maintained
-- by writes), its size, and the backend building it right now, if any. Only an index of the
-- attachment's own table counts: a name that an attachment row holds never reaches another relation.
SELECT i.indisvalid, i.indisready, pg_relation_size(c.oid),
       (SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid LIMIT 1)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indexrelid = c.oid
WHERE n.nspname = %(schema)s AND c.relname = %(name)s AND i.indrelid = %(table)s::oid
