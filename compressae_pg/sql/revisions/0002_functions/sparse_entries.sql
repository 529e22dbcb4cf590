-- The entries of a sparsevec as arrays: its dimensions, its non-zero positions as 0-based atom
-- indices (sparsevec's text form is 1-based), and their values, in ascending index order.
-- pgvector has no accessor for these; its text form is exact (shortest round-trip floats).
CREATE OR REPLACE FUNCTION compressae.sparse_entries(
    s       sparsevec,
    OUT dims integer,
    OUT idx  integer[],
    OUT val  real[]
)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
    SELECT split_part(t.txt, '/', 2)::integer,
           coalesce(array_agg(split_part(e.entry, ':', 1)::integer - 1 ORDER BY e.ord) FILTER (WHERE e.entry IS NOT NULL), '{}'),
           coalesce(array_agg(split_part(e.entry, ':', 2)::real ORDER BY e.ord) FILTER (WHERE e.entry IS NOT NULL), '{}')
    FROM (SELECT s::text) AS t (txt)
    LEFT JOIN LATERAL string_to_table(nullif(btrim(split_part(t.txt, '/', 1), '{}'), ''), ',')
        WITH ORDINALITY AS e (entry, ord) ON true
    GROUP BY t.txt
$$;
