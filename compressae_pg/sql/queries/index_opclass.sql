-- The operator class of an attachment's HNSW index as pg_opclass has it (its schema and name): one
-- that pgvector's hnsw access method defines for the indexed column's type, else no row. The check
-- compressae.index_ddl makes, for the statements partitions.py composes for each partition.
SELECT n.nspname::text, oc.opcname::text
FROM pg_catalog.pg_opclass oc
JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hnsw'
JOIN pg_catalog.pg_namespace n ON n.oid = oc.opcnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = %(table)s::oid AND a.attname = %(column)s AND a.attnum > 0 AND NOT a.attisdropped
WHERE oc.opcname = %(opclass)s AND oc.opcintype = a.atttypid
