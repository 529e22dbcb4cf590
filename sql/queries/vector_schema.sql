-- The schema pgvector is installed in, quoted: functions pin it in their search_path.
SELECT quote_ident(n.nspname)
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'vector'
