-- The schema and name of an attachment's table now (the Alembic op composes a query on it). On the migration's own
-- search_path (an application's): every table and operator is named by schema.
SELECT n.nspname AS table_schema, c.relname AS table_name
FROM compressae.attachments a
JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.table_oid::pg_catalog.oid
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE a.id OPERATOR(pg_catalog.=) CAST(:attachment_id AS pg_catalog.int8)
