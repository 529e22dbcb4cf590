-- op.drop_compressed_column: the table and every attachment of it (source and code column), by the
-- table name (and schema) as Alembic gives them, its attachments by its oid; columns.choice picks the one the op names.
SELECT t.oid::bigint AS table_oid, a.source_column, a.code_column
FROM (SELECT CAST(concat_ws('.', quote_ident(CAST(:schema AS text)), quote_ident(CAST(:table AS text))) AS regclass)::oid AS oid) t
JOIN pg_class c ON c.oid = t.oid AND c.relkind IN ('r', 'p')
LEFT JOIN compressae.attachments a ON a.table_oid = c.oid
ORDER BY a.code_column
