-- The schema and name of an attachment's table now (the Alembic op composes a query on it).
SELECT n.nspname, c.relname
FROM compressae.attachments a
JOIN pg_class c ON c.oid = a.table_oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.id = :attachment_id
