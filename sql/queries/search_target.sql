-- What a search needs to know about the code columns attached to one table (by oid): the
-- attachment and its model, the table's primary key (one row per key column), the source
-- column's type (NULL when it no longer exists), and where pgvector lives with its type oids.
SELECT a.id, a.table_schema, a.table_name, a.source_column, a.code_column, a.graph, a.sketch_column,
       a.residual_column, a.residual_planes, coalesce(a.sketch_planes, 1),
       m.id, m.name, m.version, m.dim, m.h, m.k,
       pk.attname::text, pk.atttypid::bigint, pk.n_keys,
       st.typname::text,
       vs.nspname::text,
       to_regtype(quote_ident(vs.nspname) || '.sparsevec')::oid::bigint,
       to_regtype(quote_ident(vs.nspname) || '.vector')::oid::bigint,
       to_regtype(quote_ident(vs.nspname) || '.halfvec')::oid::bigint
FROM compressae.attachments a
JOIN compressae.models m ON m.id = a.model_id
JOIN pg_namespace n ON n.nspname = a.table_schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
CROSS JOIN (SELECT ns.nspname FROM pg_extension e JOIN pg_namespace ns ON ns.oid = e.extnamespace
            WHERE e.extname = 'vector') vs
LEFT JOIN LATERAL (
    SELECT min(att.attname::text) AS attname, min(att.atttypid) AS atttypid, count(*) AS n_keys
    FROM pg_index i
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = ANY (i.indkey)
    WHERE i.indrelid = c.oid AND i.indisprimary
) pk ON true
LEFT JOIN pg_attribute sa ON sa.attrelid = c.oid AND sa.attname = a.source_column AND sa.attnum > 0 AND NOT sa.attisdropped
LEFT JOIN pg_type st ON st.oid = sa.atttypid
WHERE c.oid = %(oid)s::bigint
ORDER BY a.code_column
