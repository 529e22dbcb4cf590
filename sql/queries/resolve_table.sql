-- The table a user named: an exact relation name looked up on the search_path (or in the given
-- schema), so names with dots, quotes or spaces work without any quoting by the caller.
SELECT n.nspname, c.relname, c.oid::bigint, c.relkind::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = %(name)s
  AND c.relkind IN ('r', 'p', 'm', 'v', 'f')
  AND CASE WHEN %(schema)s::text IS NULL
           THEN n.nspname = ANY (current_schemas(false))
           ELSE n.nspname = %(schema)s::text END
ORDER BY array_position(current_schemas(false), n.nspname::text) NULLS LAST
LIMIT 1
