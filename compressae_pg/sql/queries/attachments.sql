-- Every fact a stage reads of the attachments (of one table, by oid, or all): the attachment, its model, the
-- table's primary key (its columns in key order), the source column's type (NULL when it no longer exists)
-- and where pgvector lives with its type oids. compressae_pg._attachment reads the columns by name. A record
-- keeps its table by oid (0017), read here with the table's name now; one whose table was dropped has only
-- the oid it recorded (recorded_oid): no schema, name, table_oid, key or source.
SELECT a.id, n.nspname::text AS table_schema, c.relname::text AS table_name, c.oid::bigint AS table_oid,
       a.table_oid::oid::bigint AS recorded_oid, c.relkind::text AS table_kind,
       a.source_column, a.code_column, a.sync, a.index_name, a.opclass, a.graph, a.sketch_column,
       a.residual_column, a.residual_planes, a.sketch_planes,
       m.id AS model_id, m.name AS model_name, m.version AS model_version, m.dim AS model_dim, m.h AS model_h,
       m.k AS model_k, m.source AS model_source, m.params AS model_params, m.metrics AS model_metrics,
       m.created_at AS model_created_at,
       coalesce(pk.names, ARRAY[]::text[]) AS key_columns, coalesce(pk.types, ARRAY[]::text[]) AS key_types, pk.first_oid AS key_oid,
       st.typname::text AS source_type, sa.atttypmod AS source_typmod, sa.attnotnull AS source_not_null,
       vs.nspname::text AS vector_schema,
       to_regtype(quote_ident(vs.nspname) || '.sparsevec')::oid::bigint AS sparsevec_oid,
       to_regtype(quote_ident(vs.nspname) || '.vector')::oid::bigint AS vector_oid,
       to_regtype(quote_ident(vs.nspname) || '.halfvec')::oid::bigint AS halfvec_oid
FROM compressae.attachments a
JOIN compressae.models m ON m.id = a.model_id
LEFT JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT array_agg(att.attname::text ORDER BY k.ord) AS names,
           array_agg(format_type(att.atttypid, att.atttypmod) ORDER BY k.ord) AS types,
           (array_agg(att.atttypid::bigint ORDER BY k.ord))[1] AS first_oid
    FROM pg_index i
    JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
    WHERE i.indrelid = c.oid AND i.indisprimary
) pk ON true
LEFT JOIN pg_attribute sa ON sa.attrelid = c.oid AND sa.attname = a.source_column AND sa.attnum > 0 AND NOT sa.attisdropped
LEFT JOIN pg_type st ON st.oid = sa.atttypid
LEFT JOIN LATERAL (SELECT ns.nspname FROM pg_extension e JOIN pg_namespace ns ON ns.oid = e.extnamespace
                   WHERE e.extname = 'vector') vs ON true
WHERE %(oid)s::bigint IS NULL OR c.oid = %(oid)s::bigint
ORDER BY n.nspname NULLS LAST, c.relname, a.table_oid, a.code_column
