-- op.drop_compressed_column: the table and every attachment of it (source and code column), by the
-- table name (and schema) as Alembic gives them, its attachments by its oid; columns.choice picks the one the op names.
-- On the migration's own search_path (an application's): every function, table and operator is named by schema.
SELECT t.oid::pg_catalog.int8 AS table_oid, a.source_column, a.code_column
FROM (SELECT CAST(pg_catalog.concat_ws('.', pg_catalog.quote_ident(CAST(:schema AS pg_catalog.text)),
                                       pg_catalog.quote_ident(CAST(:table AS pg_catalog.text))) AS pg_catalog.regclass)::pg_catalog.oid AS oid) t
JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.oid AND (c.relkind OPERATOR(pg_catalog.=) 'r' OR c.relkind OPERATOR(pg_catalog.=) 'p')
LEFT JOIN compressae.attachments a ON a.table_oid::pg_catalog.oid OPERATOR(pg_catalog.=) c.oid
ORDER BY a.code_column
