-- The schema and name of an attachment's table (the Alembic op composes a query on it).
SELECT table_schema, table_name FROM compressae.attachments WHERE id = :attachment_id
