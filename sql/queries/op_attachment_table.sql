-- The schema and name of an attachment's table now (the Alembic op composes a query on it).
SELECT n.nspname AS table_schema, c.relname AS table_name
FROM compressae.attachments a
JOIN pg_class c ON c.oid = a.table_oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.id = :attachment_id
