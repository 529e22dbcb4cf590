-- compressae.project(model, q): W_dec q, the query on every one of the h atoms, as
-- CompresSAE.project computes it (q is not normalised). For an item's code s,
-- project(q) · s = q · decode(s), so `-(compressae.project(m, q) <#> code)` scores an item in
-- the reconstructed space in O(k) (the asymmetric rerank). NULL in, NULL out.
CREATE OR REPLACE FUNCTION compressae.project(model text, q vector)
RETURNS sparsevec
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    m compressae.model_info := compressae.resolve_model(model);
    x vector := compressae.check_input(q, m.dim, m.name || '@' || m.version);
BEGIN
    -- atoms.idx runs 0 .. h-1 without gaps (registry.save writes them so): position idx+1.
    -- MATERIALIZED: the products are computed before the sort, which then moves 4096 narrow rows
    -- rather than 4096 decoder vectors.
    RETURN (WITH p AS MATERIALIZED (SELECT a.idx, -(a.decoder <#> x) AS v FROM compressae.decoder_atoms a WHERE a.model_id = m.id)
            SELECT array_agg(p.v::real ORDER BY p.idx) FROM p)::sparsevec;
END
$$;

CREATE OR REPLACE FUNCTION compressae.project(model text, q halfvec)
RETURNS sparsevec
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$ SELECT compressae.project(model, q::vector) $$;
