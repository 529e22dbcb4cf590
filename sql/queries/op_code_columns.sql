-- op.drop_compressed_column: the table and the code columns attached to one of its source columns
-- (or the one named), by the table name (and schema) as Alembic gives them.
SELECT t.oid::bigint, a.code_column
FROM (SELECT CAST(concat_ws('.', quote_ident(CAST(:schema AS text)), quote_ident(CAST(:table AS text))) AS regclass)::oid AS oid) t
JOIN pg_class c ON c.oid = t.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN compressae.attachments a
       ON a.table_schema = n.nspname AND a.table_name = c.relname AND a.source_column = CAST(:column AS text)
      AND (CAST(:code_column AS text) IS NULL OR a.code_column = CAST(:code_column AS text))
ORDER BY a.code_column
