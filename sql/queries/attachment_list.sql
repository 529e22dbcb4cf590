-- Attachments with their model, optionally only those of one table (by oid).
SELECT a.id, a.table_schema, a.table_name, a.source_column, a.code_column, a.sync, a.index_name, a.opclass, a.graph, a.sketch_column,
       a.residual_column, a.residual_planes, a.sketch_planes,
       m.id, m.name, m.version, m.dim, m.h, m.k, m.source, m.params, m.metrics, m.created_at,
       c.oid::bigint, c.relkind::text
FROM compressae.attachments a
JOIN compressae.models m ON m.id = a.model_id
LEFT JOIN pg_namespace n ON n.nspname = a.table_schema
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
WHERE %(oid)s::bigint IS NULL OR c.oid = %(oid)s::bigint
ORDER BY a.table_schema, a.table_name, a.code_column
