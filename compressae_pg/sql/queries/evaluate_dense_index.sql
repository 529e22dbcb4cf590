-- The valid HNSW indexes on one vector column (by table oid and column name), with their
-- operator class (which distance they serve) and size; the smallest first.
SELECT ic.relname::text, opc.opcname::text, pg_relation_size(ic.oid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_opclass opc ON opc.oid = i.indclass[0]
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = %(oid)s::oid AND a.attname = %(column)s
  AND am.amname = 'hnsw' AND i.indnatts = 1 AND i.indisvalid AND i.indpred IS NULL
ORDER BY pg_relation_size(ic.oid), ic.relname
