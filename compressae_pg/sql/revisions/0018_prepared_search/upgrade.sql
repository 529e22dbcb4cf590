-- 0018: compressae.search plans its statement once per session (issue 24). Through 0016 every call built
-- and planned its dynamic statement again (~1 ms of parsing and planning) and the projection re-resolved
-- the model that search had already resolved. Now:
-- - the statement takes the query vector and the filter as its only parameters and computes the query's
--   sketch (or code), projection and bit planes itself, once, in a one-row subquery the candidates join
--   laterally; k and candidates are literals in its text (a LIMIT given as a parameter would let a generic
--   plan leave the index);
-- - it is PREPAREd in the session under a name taken from a hash of its text, with a generic plan, and
--   EXECUTEd; a prepared statement of that name is used only when its text is exactly the one search would
--   write now (anything else, stale or made by another role, is deallocated and prepared again). The text
--   names the table, its columns and the model as they are now: a rename, a swap or a new model gives
--   another text, hence another statement; DDL on the table makes the server re-plan a prepared one;
-- - PREPARE and EXECUTE are commands that PL/pgSQL runs only in a VOLATILE function: search is VOLATILE;
-- - compressae.projection(model_id, x) is the projection itself, by model id (project resolves the name,
--   checks the vector and calls it). No other layout of the decoder measured faster in plain SQL
--   (BENCHMARKS.md, "SQL search (issue 24)").
-- masked_sum and residual_term read the query's planes from that subquery (p.planes, p.lo, p.step,
-- p.total) instead of parameters $6-$9; explain gives them the same names.

-- The query x on every atom of model model_id: (d_j · x) at position j + 1, as real. Read through the primary
-- key, in idx order, whatever the statistics say: the aggregate then sorts nothing and no other model's rows
-- are read. (With the statistics of before a model was stored, the planner chose a scan of every model's rows
-- and a sort of the decoder rows themselves: 31 ms against 8.7 ms through the index, in one probe.)
CREATE FUNCTION compressae.projection(model_id bigint, x @vector_schema@.vector)
RETURNS @vector_schema@.sparsevec
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
    -- atoms.idx runs 0 .. h-1 without gaps (registry.save writes them so): position idx+1.
    SELECT array_agg((-(a.decoder OPERATOR(@vector_schema@.<#>) projection.x))::real ORDER BY a.idx)::@vector_schema@.sparsevec
    FROM compressae.decoder_atoms a WHERE a.model_id = projection.model_id
$$;

CREATE OR REPLACE FUNCTION compressae.project(model text, q @vector_schema@.vector)
RETURNS @vector_schema@.sparsevec
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m compressae.model_info := compressae.resolve_model(model);
BEGIN
    RETURN compressae.projection(m.id, compressae.check_input(q, m.dim, m.name || '@' || m.version));
END
$$;

-- The SQL text of the sum of the quantized query over the bits of `mask` (a bit(d) expression): p.planes
-- the query's 8 bit planes, p.lo its lowest value, p.step its step.
CREATE OR REPLACE FUNCTION compressae.masked_sum(mask text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(p.lo * bit_count(%1$s) + p.step * (%2$s))', mask,
                  string_agg(format('%s * bit_count(%s & p.planes[%s])', 1 << j, mask, j + 1), ' + ' ORDER BY j))
    FROM generate_series(0, 7) AS j
$$;

-- The residual's term of a score, a·(q̂·L), over the parts r.* (compressae.residual_parts) and the query's
-- p.planes, p.lo, p.step, p.total; clipped to what q̂·r can be, given the code's own score base = q̂·x̂: r ⟂ x̂
-- and |r| = √(1 − c²), so |q̂·r| <= √(1 − c²)·√(1 − base²), and a code scoring at most 1 keeps its row at most 1.
CREATE OR REPLACE FUNCTION compressae.residual_term(planes integer, base text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('least(greatest(r.ar * (%1$s), -%2$s), %2$s)',
                  CASE WHEN planes = 1
                       THEN format('2 * %s - p.total', compressae.masked_sum('r.b'))
                       ELSE format('2 * %s - p.total + 2.336 * (2 * %s - %s)', compressae.masked_sum('r.b'),
                                   compressae.masked_sum('(r.b & r.m)'), compressae.masked_sum('r.m')) END,
                  format('(sqrt(1 - r.cr * r.cr) * sqrt(greatest(1 - (%1$s) * (%1$s), 0)))', base))
$$;

CREATE OR REPLACE FUNCTION compressae.search(
    tbl         regclass,
    column_name name,
    query       @vector_schema@.vector,
    k           integer DEFAULT 10,
    candidates  integer DEFAULT 100,
    rerank      text DEFAULT 'reconstructed',
    filter      jsonb DEFAULT NULL
)
RETURNS TABLE (key text, score double precision)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET hnsw.ef_search = 40
SET hnsw.iterative_scan = relaxed_order
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    att       compressae.attachments;
    m         compressae.models;
    ref       text;
    pk        name;
    residual  boolean;
    query_sql text;
    score_sql text;
    graph_col name;
    op        text;
    res_sql   text := 'NULL';
    parts     text := '';
    body      text;
    stmt      name;
    prep      text;
BEGIN
    -- NULL in, no rows out (the function was STRICT until filter, which may be NULL, was added).
    IF tbl IS NULL OR column_name IS NULL OR query IS NULL OR k IS NULL OR candidates IS NULL OR rerank IS NULL THEN
        RETURN;
    END IF;
    IF rerank NOT IN ('none', 'reconstructed', 'symmetric', 'dense') THEN
        RAISE EXCEPTION 'rerank must be none, reconstructed, symmetric or dense, not %', quote_literal(rerank)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF k < 1 OR candidates < 1 THEN
        RAISE EXCEPTION 'k and candidates must be positive (got k=%, candidates=%)', k, candidates
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    att := compressae.attachment_of(tbl, column_name);
    pk := compressae.key_column(tbl);
    IF rerank = 'dense' AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = att.source_column
                                        AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'rerank dense needs the source column %, which table % no longer has', quote_ident(att.source_column), tbl
            USING ERRCODE = 'undefined_column';
    END IF;

    SELECT * INTO m FROM compressae.models WHERE id = att.model_id;
    ref := m.name || '@' || m.version;
    residual := rerank = 'reconstructed' AND att.residual_column IS NOT NULL;
    -- The query's one row p: its sketch or code (what the graph is searched with), its projection and, with
    -- a residual sketch, its 8 bit planes (compressae.query_planes); OFFSET 0 keeps each computed once.
    query_sql := format(
        '(SELECT %s AS probe, %s AS projection%s'
        ' FROM (SELECT q.x, %s AS code FROM (SELECT compressae.check_input($1, %s, %L) AS x OFFSET 0) q OFFSET 0) q%s OFFSET 0) p',
        CASE WHEN att.graph = 'sketch' THEN format('compressae.sketch(q.x, %s)', att.sketch_planes) ELSE 'q.code' END,
        CASE rerank
            WHEN 'reconstructed' THEN format('compressae.projection(%s, @vector_schema@.l2_normalize(q.x))', m.id)
            WHEN 'symmetric' THEN format('compressae.projection(%s, @vector_schema@.l2_normalize(compressae.decode(%L, q.code)))', m.id, ref)
            ELSE 'NULL' END,
        CASE WHEN residual THEN ', qp.planes, qp.lo, qp.step, qp.total' ELSE '' END,
        CASE WHEN att.graph = 'sparse' OR rerank = 'symmetric' THEN format('compressae.encode(%L, q.x)', ref) ELSE 'NULL' END,
        m.dim, ref,
        CASE WHEN residual THEN ' CROSS JOIN LATERAL compressae.query_planes(q.x) qp' ELSE '' END);
    IF att.graph = 'sketch' THEN
        graph_col := att.sketch_column;
        op := 'OPERATOR(@vector_schema@.<~>) p.probe';
    ELSE
        graph_col := att.code_column;
        op := 'OPERATOR(@vector_schema@.<=>) p.probe';
    END IF;
    score_sql := CASE
        WHEN rerank = 'none' AND att.graph = 'sketch' THEN format('1 - 2 * c.distance / %s', att.sketch_planes * m.dim)
        WHEN rerank = 'none' THEN '1 - c.distance'
        WHEN rerank = 'dense' THEN '1 - (c.source::@vector_schema@.vector OPERATOR(@vector_schema@.<=>) $1)'
        ELSE '-(c.code OPERATOR(@vector_schema@.<#>) p.projection)'
    END;
    -- The residual sketch: c·(q·x̂) + a·(q·L), the sums of q over a mask from the query's planes.
    -- A row without a residual (or with one of another size) keeps q·x̂.
    IF residual THEN
        res_sql := quote_ident(att.residual_column);
        parts := format(' CROSS JOIN LATERAL (SELECT -(c.code OPERATOR(@vector_schema@.<#>) p.projection) AS base OFFSET 0) s'
                        ' LEFT JOIN LATERAL %s r ON true', compressae.residual_parts('c.res', m.dim, att.residual_planes));
        score_sql := format('coalesce(r.cr * s.base + %s, s.base)', compressae.residual_term(att.residual_planes, 's.base'));
    END IF;
    PERFORM set_config('hnsw.ef_search', least(greatest(candidates, k, 40), 1000)::text, true);
    -- NULLS LAST, then NULL dropped: the k best of the rows that have a score.
    body := format(
        'SELECT t.key, t.score FROM ('
        ' SELECT pg_catalog.format(''%%s'', c.key) AS key, (%s)::float8 AS score, c.distance'
        ' FROM %s CROSS JOIN LATERAL (SELECT %I AS key, %I AS code, %s AS source, %s AS res, %I %s AS distance'
        ' FROM %s WHERE %I IS NOT NULL AND %I IS NOT NULL AND (%s) ORDER BY %I %s LIMIT %s) c%s'
        ' ORDER BY 2 DESC NULLS LAST, 3 LIMIT %s) t'
        ' WHERE t.score IS NOT NULL',
        score_sql, query_sql, pk, att.code_column, CASE WHEN rerank = 'dense' THEN quote_ident(att.source_column) ELSE 'NULL' END,
        res_sql, graph_col, op, tbl, att.code_column, graph_col, coalesce(compressae.filter_sql(tbl, filter, 2), 'true'),
        graph_col, op, greatest(candidates, k), parts, k);
    stmt := 'compressae_search_' || left(encode(sha256(convert_to(body, 'UTF8')), 'hex'), 40);
    prep := format('PREPARE %I (@vector_schema@.vector, jsonb) AS %s', stmt, body);
    IF NOT EXISTS (SELECT 1 FROM pg_prepared_statements s WHERE s.name = stmt AND s.statement = prep) THEN
        IF EXISTS (SELECT 1 FROM pg_prepared_statements s WHERE s.name = stmt) THEN
            EXECUTE format('DEALLOCATE %I', stmt);
        END IF;
        EXECUTE prep;
    END IF;
    RETURN QUERY EXECUTE format('EXECUTE %I(%L, %L)', stmt, query::text, filter::text);
END
$$;

-- explain as in 0011, the residual's term over the query's planes named p.* as search names them.
CREATE OR REPLACE FUNCTION compressae.explain(tbl regclass, column_name name, query @vector_schema@.vector, key text)
RETURNS TABLE (atom integer, query_weight double precision, row_value double precision, contribution double precision)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att     compressae.attachments;
    m       compressae.models;
    pk      name;
    unit    @vector_schema@.vector;
    code    @vector_schema@.sparsevec;
    res     varbit;
    found   integer;
    e       record;
    atoms   integer[];
    vals    float8[];
    weights float8[];
    c       float8;
    term    float8;
    planes  varbit[];
    lo      float8;
    step    float8;
    total   float8;
BEGIN
    IF tbl IS NULL OR column_name IS NULL OR query IS NULL OR key IS NULL THEN
        RETURN;
    END IF;
    att := compressae.attachment_of(tbl, column_name);
    pk := compressae.key_column(tbl);
    SELECT * INTO m FROM compressae.models WHERE id = att.model_id;
    unit := @vector_schema@.l2_normalize(compressae.check_input(query, m.dim, m.name || '@' || m.version));
    -- The key as the column's own type, so that the primary key's index finds the row: a literal, which the type's
    -- input function reads, never a cast from text that the type's owner may have defined.
    EXECUTE format('SELECT %I, %s FROM %s WHERE %I = %L::%s', att.code_column,
                   coalesce(quote_ident(att.residual_column), 'NULL::varbit'), tbl, pk, key,
                   (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = pk))
        INTO code, res;
    GET DIAGNOSTICS found = ROW_COUNT;
    IF found = 0 THEN
        RAISE EXCEPTION 'no row of % has % = %', tbl, quote_ident(pk), quote_literal(key) USING ERRCODE = 'no_data_found';
    END IF;
    IF code IS NULL THEN
        RAISE EXCEPTION 'row % of % has no code in % yet', quote_literal(key), tbl, quote_ident(att.code_column)
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'compressae-pg backfill writes it';
    END IF;
    e := compressae.sparse_entries(code);
    SELECT array_agg(u.i ORDER BY u.o), array_agg(u.v::float8 ORDER BY u.o), array_agg(w.p ORDER BY u.o) INTO atoms, vals, weights
    FROM unnest(e.idx, e.val) WITH ORDINALITY AS u (i, v, o)
    CROSS JOIN LATERAL (SELECT (-(a.decoder OPERATOR(@vector_schema@.<#>) unit))::real::float8 AS p
                        FROM compressae.decoder_atoms a WHERE a.model_id = m.id AND a.idx = u.i) w;
    -- A residual of another size has no parts (compressae.residual_parts): the row keeps its code's score, as in search.
    IF res IS NOT NULL THEN
        SELECT * INTO planes, lo, step, total FROM compressae.query_planes(query);
        EXECUTE format('SELECT r.cr, %s FROM (SELECT CAST($1 AS varbit) AS res) c'
                       ' CROSS JOIN (SELECT $2 AS planes, $3 AS lo, $4 AS step, $5 AS total) p LEFT JOIN LATERAL %s r ON true',
                       compressae.residual_term(att.residual_planes, format('%s::float8', (SELECT sum(v * w) FROM unnest(vals, weights) AS t (v, w)))),
                       compressae.residual_parts('c.res', m.dim, att.residual_planes))
            INTO c, term USING res, planes, lo, step, total;
    END IF;
    c := coalesce(c, 1);
    RETURN QUERY
        SELECT t.i, t.w, t.v, c * t.v * t.w
        FROM unnest(atoms, vals, weights) AS t (i, v, w)
        ORDER BY abs(c * t.v * t.w) DESC, t.i;
    IF term IS NOT NULL THEN
        RETURN QUERY SELECT NULL::integer, NULL::float8, NULL::float8, term;
    END IF;
END
$$;
