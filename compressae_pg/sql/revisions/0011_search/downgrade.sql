-- Back to 0010: its search (six arguments, no filter) and 0009's project, as they were; no explain.
DROP FUNCTION compressae.search(regclass, name, @vector_schema@.vector, integer, integer, text, jsonb);
DROP FUNCTION compressae.query_planes(@vector_schema@.vector);
DROP FUNCTION compressae.explain(regclass, name, @vector_schema@.vector, text);
DROP FUNCTION compressae.attachment_of(regclass, name);
DROP FUNCTION compressae.key_column(regclass);
DROP FUNCTION compressae.filter_sql(regclass, jsonb, integer);
DROP FUNCTION compressae.residual_parts(text, integer, integer);
DROP FUNCTION compressae.residual_term(integer, text);

CREATE OR REPLACE FUNCTION compressae.project(model text, q @vector_schema@.vector)
RETURNS @vector_schema@.sparsevec
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m compressae.model_info := compressae.resolve_model(model);
    x @vector_schema@.vector := compressae.check_input(q, m.dim, m.name || '@' || m.version);
BEGIN
    -- atoms.idx runs 0 .. h-1 without gaps (registry.save writes them so): position idx+1.
    -- MATERIALIZED: the products are computed before the sort, which then moves 4096 narrow rows
    -- rather than 4096 decoder vectors.
    RETURN (WITH p AS MATERIALIZED (SELECT a.idx, -(a.decoder OPERATOR(@vector_schema@.<#>) x) AS v
                                    FROM compressae.decoder_atoms a WHERE a.model_id = m.id)
            SELECT array_agg(p.v::real ORDER BY p.idx) FROM p)::@vector_schema@.sparsevec;
END
$$;

CREATE FUNCTION compressae.search(
    tbl         regclass,
    column_name name,
    query       @vector_schema@.vector,
    k           integer DEFAULT 10,
    candidates  integer DEFAULT 100,
    rerank      text DEFAULT 'reconstructed'
)
RETURNS TABLE (key text, score double precision)
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET hnsw.ef_search = 40
SET hnsw.iterative_scan = relaxed_order
AS $$
DECLARE
    att       compressae.attachments;
    m         compressae.models;
    ref       text;
    pk        text[];
    has_src   boolean;
    qcode     @vector_schema@.sparsevec;
    probe     @vector_schema@.sparsevec;
    score_sql text;
    graph_col name;
    op        text;
    bits      varbit;
    res_sql   text := 'NULL';
    parts     text := '';
    qn        float8[];
    lo        float8;
    step      float8;
    qplanes   varbit[];
    qsum      float8;
BEGIN
    IF rerank NOT IN ('none', 'reconstructed', 'symmetric', 'dense') THEN
        RAISE EXCEPTION 'rerank must be none, reconstructed, symmetric or dense, not %', quote_literal(rerank)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF k < 1 OR candidates < 1 THEN
        RAISE EXCEPTION 'k and candidates must be positive (got k=%, candidates=%)', k, candidates
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The attachment whose source column (else whose code column) is column_name.
    BEGIN
        SELECT a.* INTO STRICT att
        FROM compressae.attachments a
        JOIN pg_namespace n ON n.nspname = a.table_schema
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
        WHERE c.oid = tbl AND a.source_column = column_name;
    EXCEPTION
        WHEN no_data_found THEN
            SELECT a.* INTO att
            FROM compressae.attachments a
            JOIN pg_namespace n ON n.nspname = a.table_schema
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
            WHERE c.oid = tbl AND a.code_column = column_name;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no compressed code column is attached to column % of table %', quote_ident(column_name), tbl
                    USING ERRCODE = 'undefined_object', HINT = 'compressae-pg attach adds one';
            END IF;
        WHEN too_many_rows THEN
            RAISE EXCEPTION 'column % of table % has several code columns: name the code column instead', quote_ident(column_name), tbl
                USING ERRCODE = 'ambiguous_column';
    END;
    SELECT array_agg(a.attname::text) INTO pk
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = tbl AND i.indisprimary;
    IF cardinality(pk) IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'table % needs a single-column primary key to name its rows', tbl
            USING ERRCODE = 'invalid_table_definition';
    END IF;
    has_src := EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = att.source_column
                       AND a.attnum > 0 AND NOT a.attisdropped);
    IF rerank = 'dense' AND NOT has_src THEN
        RAISE EXCEPTION 'rerank dense needs the source column %, which table % no longer has', quote_ident(att.source_column), tbl
            USING ERRCODE = 'undefined_column';
    END IF;

    SELECT * INTO m FROM compressae.models WHERE id = att.model_id;
    ref := m.name || '@' || m.version;
    IF att.graph = 'sketch' THEN
        graph_col := att.sketch_column;
        op := 'OPERATOR(@vector_schema@.<~>) CAST($1 AS varbit)';
        bits := @vector_schema@.binary_quantize(compressae.check_input(query, m.dim, ref));
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
        WHEN rerank = 'none' AND att.graph = 'sketch' THEN format('1 - 2 * c.distance / %s', m.dim)
        WHEN rerank = 'none' THEN '1 - c.distance'
        WHEN rerank = 'dense' THEN '1 - (c.source::@vector_schema@.vector OPERATOR(@vector_schema@.<=>) $5)'
        ELSE '-(c.code OPERATOR(@vector_schema@.<#>) $4)'
    END;
    -- The residual sketch (0010): c·(q·x̂) + a·(q·L). The unit query is quantized to QUERY_PLANES = 8 bit
    -- planes U_j (q_i ≈ lo + step·Σ_j 2^j U_ji), so that a sum of q over the bits of a mask is
    -- lo·bit_count(mask) + step·Σ_j 2^j bit_count(mask & U_j). A row without a residual yet keeps q·x̂.
    IF rerank = 'reconstructed' AND att.residual_column IS NOT NULL THEN
        qn := (@vector_schema@.l2_normalize(query))::real[]::float8[];
        SELECT min(v), (max(v) - min(v)) / 255 INTO lo, step FROM unnest(qn) AS v;
        step := CASE WHEN step > 0 THEN step ELSE 1 END;
        SELECT array_agg(p.bits ORDER BY p.j) INTO qplanes FROM (
            SELECT j, string_agg(CASE WHEN (round((u.v - lo) / step)::int >> j) & 1 = 1 THEN '1' ELSE '0' END, '' ORDER BY u.i)::varbit AS bits
            FROM unnest(qn) WITH ORDINALITY AS u (v, i), generate_series(0, 7) AS j GROUP BY j) p;
        SELECT sum(lo + step * round((v - lo) / step)) INTO qsum FROM unnest(qn) AS v;
        res_sql := quote_ident(att.residual_column);
        parts := format(' CROSS JOIN LATERAL (SELECT substring(c.res FROM 1 FOR %1$s) AS b, substring(c.res FROM %1$s + 1 FOR %1$s) AS m,'
                        ' substring(c.res FROM %2$s + 1 FOR 16)::int / 65535.0 AS cr,'
                        ' substring(c.res FROM %2$s + 17 FOR 16)::int / (65535.0 * sqrt(%1$s)) AS ar) r',
                        m.dim, att.residual_planes * m.dim);
        -- |q̂·r| <= |r| = √(1 − c²): an estimate past that is clipped, so no stored value can score a row above a cosine.
        score_sql := format('CASE WHEN c.res IS NULL OR length(c.res) <> %3$s THEN %1$s ELSE r.cr * %1$s + '
                            'least(greatest(r.ar * (%2$s), -sqrt(1 - r.cr * r.cr)), sqrt(1 - r.cr * r.cr)) END', score_sql,
                            CASE WHEN att.residual_planes = 1
                                 THEN format('2 * %s - $9', compressae.masked_sum('r.b'))
                                 ELSE format('2 * %s - $9 + 2.336 * (2 * %s - %s)', compressae.masked_sum('r.b'),
                                             compressae.masked_sum('(r.b & r.m)'), compressae.masked_sum('r.m')) END,
                            att.residual_planes * m.dim + 32);
    END IF;
    PERFORM set_config('hnsw.ef_search', least(greatest(candidates, k, 40), 1000)::text, true);
    RETURN QUERY EXECUTE format(
        'SELECT c.key::text, %s AS score
         FROM (SELECT %I AS key, %I AS code, %s AS source, %s AS res, %I %s AS distance
               FROM %s WHERE %I IS NOT NULL AND %I IS NOT NULL ORDER BY %I %s LIMIT $2) c%s
         WHERE %s IS NOT NULL
         ORDER BY 2 DESC, c.distance
         LIMIT $3',
        score_sql, pk[1], att.code_column, CASE WHEN rerank = 'dense' THEN quote_ident(att.source_column) ELSE 'NULL' END,
        res_sql, graph_col, op, tbl, att.code_column, graph_col, graph_col, op, parts, score_sql)
    USING CASE WHEN att.graph = 'sketch' THEN bits::text ELSE qcode::text END, greatest(candidates, k), k, probe, query,
          qplanes, lo, step, qsum;
END
$$;
