-- The name of the schema pgvector is installed in (for composing its functions with psycopg.sql).
SELECT n.nspname::text
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'vector'
