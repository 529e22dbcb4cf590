-- 0018 undone: the definitions of 0016 (search), 0011 (project, residual_term, explain) and 0010 (masked_sum).

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
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET hnsw.ef_search = 40
SET hnsw.iterative_scan = relaxed_order
AS $$
DECLARE
    att       compressae.attachments;
    m         compressae.models;
    ref       text;
    pk        name;
    qcode     @vector_schema@.sparsevec;
    probe     @vector_schema@.sparsevec;
    score_sql text;
    graph_col name;
    op        text;
    bits      varbit;
    res_sql   text := 'NULL';
    parts     text := '';
    planes    varbit[];
    lo        float8;
    step      float8;
    total     float8;
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
    IF att.graph = 'sketch' THEN
        graph_col := att.sketch_column;
        op := 'OPERATOR(@vector_schema@.<~>) CAST($1 AS varbit)';
        bits := compressae.sketch(compressae.check_input(query, m.dim, ref), att.sketch_planes);
    ELSE
        graph_col := att.code_column;
        op := 'OPERATOR(@vector_schema@.<=>) CAST($1 AS @vector_schema@.sparsevec)';
    END IF;
    IF att.graph = 'sparse' OR rerank = 'symmetric' THEN
        qcode := compressae.encode(ref, query);
    END IF;
    probe := CASE rerank
        WHEN 'reconstructed' THEN compressae.project(ref, @vector_schema@.l2_normalize(query))
        WHEN 'symmetric' THEN compressae.project(ref, @vector_schema@.l2_normalize(compressae.decode(ref, qcode)))
    END;
    score_sql := CASE
        WHEN rerank = 'none' AND att.graph = 'sketch' THEN format('1 - 2 * c.distance / %s', att.sketch_planes * m.dim)
        WHEN rerank = 'none' THEN '1 - c.distance'
        WHEN rerank = 'dense' THEN '1 - (c.source::@vector_schema@.vector OPERATOR(@vector_schema@.<=>) $5)'
        ELSE '-(c.code OPERATOR(@vector_schema@.<#>) $4)'
    END;
    -- The residual sketch: c·(q·x̂) + a·(q·L), the sums of q over a mask from the query's planes
    -- (compressae.query_planes). A row without a residual (or with one of another size) keeps q·x̂.
    IF rerank = 'reconstructed' AND att.residual_column IS NOT NULL THEN
        SELECT * INTO planes, lo, step, total FROM compressae.query_planes(query);
        res_sql := quote_ident(att.residual_column);
        parts := format(' CROSS JOIN LATERAL (SELECT -(c.code OPERATOR(@vector_schema@.<#>) $4) AS base OFFSET 0) s'
                        ' LEFT JOIN LATERAL %s r ON true', compressae.residual_parts('c.res', m.dim, att.residual_planes));
        score_sql := format('coalesce(r.cr * s.base + %s, s.base)', compressae.residual_term(att.residual_planes, 's.base'));
    END IF;
    PERFORM set_config('hnsw.ef_search', least(greatest(candidates, k, 40), 1000)::text, true);
    -- NULLS LAST, then NULL dropped: the k best of the rows that have a score.
    RETURN QUERY EXECUTE format(
        'SELECT t.key, t.score FROM (
             SELECT c.key::text AS key, (%s)::float8 AS score, c.distance
             FROM (SELECT %I AS key, %I AS code, %s AS source, %s AS res, %I %s AS distance
                   FROM %s WHERE %I IS NOT NULL AND %I IS NOT NULL AND (%s) ORDER BY %I %s LIMIT $2) c%s
             ORDER BY 2 DESC NULLS LAST, 3
             LIMIT $3) t
         WHERE t.score IS NOT NULL',
        score_sql, pk, att.code_column, CASE WHEN rerank = 'dense' THEN quote_ident(att.source_column) ELSE 'NULL' END,
        res_sql, graph_col, op, tbl, att.code_column, graph_col, coalesce(compressae.filter_sql(tbl, filter, 10), 'true'), graph_col, op, parts)
    USING CASE WHEN att.graph = 'sketch' THEN bits::text ELSE qcode::text END, greatest(candidates, k), k, probe, query,
          planes, lo, step, total, filter;
END
$$;

CREATE OR REPLACE FUNCTION compressae.project(model text, q @vector_schema@.vector)
RETURNS @vector_schema@.sparsevec
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m compressae.model_info := compressae.resolve_model(model);
    x @vector_schema@.vector := compressae.check_input(q, m.dim, m.name || '@' || m.version);
BEGIN
    -- atoms.idx runs 0 .. h-1 without gaps (registry.save writes them so): position idx+1. The
    -- aggregate's sort moves (idx, product) pairs only, never the decoder rows.
    RETURN (SELECT array_agg((-(a.decoder OPERATOR(@vector_schema@.<#>) x))::real ORDER BY a.idx)
            FROM compressae.decoder_atoms a WHERE a.model_id = m.id)::@vector_schema@.sparsevec;
END
$$;

CREATE OR REPLACE FUNCTION compressae.masked_sum(mask text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('($7 * bit_count(%1$s) + $8 * (%2$s))', mask,
                  string_agg(format('%s * bit_count(%s & $6[%s])', 1 << j, mask, j + 1), ' + ' ORDER BY j))
    FROM generate_series(0, 7) AS j
$$;

CREATE OR REPLACE FUNCTION compressae.residual_term(planes integer, base text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('least(greatest(r.ar * (%1$s), -%2$s), %2$s)',
                  CASE WHEN planes = 1
                       THEN format('2 * %s - $9', compressae.masked_sum('r.b'))
                       ELSE format('2 * %s - $9 + 2.336 * (2 * %s - %s)', compressae.masked_sum('r.b'),
                                   compressae.masked_sum('(r.b & r.m)'), compressae.masked_sum('r.m')) END,
                  format('(sqrt(1 - r.cr * r.cr) * sqrt(greatest(1 - (%1$s) * (%1$s), 0)))', base))
$$;

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
    -- The key as the column's own type, so that the primary key's index finds the row.
    EXECUTE format('SELECT %I, %s FROM %s WHERE %I = CAST($1 AS %s)', att.code_column,
                   coalesce(quote_ident(att.residual_column), 'NULL::varbit'), tbl, pk,
                   (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = pk))
        INTO code, res USING key;
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
        EXECUTE format('SELECT r.cr, %s FROM (SELECT CAST($5 AS varbit) AS res) c LEFT JOIN LATERAL %s r ON true',
                       compressae.residual_term(att.residual_planes, format('%s::float8', (SELECT sum(v * w) FROM unnest(vals, weights) AS t (v, w)))),
                       compressae.residual_parts('c.res', m.dim, att.residual_planes))
            INTO c, term USING NULL::text, NULL::integer, NULL::integer, NULL::text, res, planes, lo, step, total;
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

DROP FUNCTION compressae.projection(bigint, @vector_schema@.vector);
