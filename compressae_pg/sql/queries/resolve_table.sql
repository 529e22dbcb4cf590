-- The table a user named: an exact relation name looked up on the search_path (or in the given
-- schema), so names with dots, quotes or spaces work without any quoting by the caller. A package
-- session pins its search_path (session_pin.sql): there, the path it started with is the one used.
SELECT n.nspname AS schema, c.relname AS name, c.oid::bigint AS oid, c.relkind::text AS kind
FROM (SELECT coalesce(nullif(current_setting('compressae.lookup_path', true), '')::name[], current_schemas(false)) AS path) p
CROSS JOIN pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = %(name)s
  AND c.relkind IN ('r', 'p', 'm', 'v', 'f')
  AND CASE WHEN %(schema)s::text IS NULL
           THEN n.nspname = ANY (p.path)
           ELSE n.nspname = %(schema)s::text END
ORDER BY array_position(p.path, n.nspname) NULLS LAST
LIMIT 1
