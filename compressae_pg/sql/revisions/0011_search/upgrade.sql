-- 0011: compressae.search at the Python path's speed, and with the application's own filter.
-- - project reads the 4,096 decoder rows without materializing them first (1.7 -> 0.6 ms a query);
-- - each candidate's score is computed once, in float8 (0010 computed it twice, in numeric, for its
--   WHERE and ORDER BY), from residual planes cut once per candidate;
-- - the query's 8 bit planes are cut 32 dimensions at a time (12 groups at 384-d, not 3,072 rows);
-- - filter: {column: value} pairs (jsonb, the Python API's where= mapping), ANDed to the candidates'
--   WHERE with pgvector's iterative scan, so that a selective filter still returns k rows;
-- - explain: what each atom of a row's code, and its residual, adds to its score.
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

-- The unit query quantized to 8 bit planes U_j, q_i ≈ lo + step·Σ_j 2^j U_ji, and Σ_i of the quantized
-- q_i: what search needs to sum q over the bits of a residual mask with bit_count alone.
CREATE FUNCTION compressae.query_planes(
    q     @vector_schema@.vector,
    OUT planes varbit[], OUT lo float8, OUT step float8, OUT total float8)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v   float8[] := (@vector_schema@.l2_normalize(q))::real[]::float8[];
    d   integer := cardinality(v);
BEGIN
    SELECT min(e), (max(e) - min(e)) / 255 INTO lo, step FROM unnest(v) AS e;
    step := CASE WHEN step > 0 THEN step ELSE 1 END;
    SELECT sum(lo + step * round((e - lo) / step)) INTO total FROM unnest(v) AS e;
    -- Each group of 32 dimensions packs its bits of plane j into one bigint; its bit(32) texts, in
    -- order, then cut to d, are the plane.
    SELECT ARRAY[substring(string_agg(g.p0::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit,
                 substring(string_agg(g.p1::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit,
                 substring(string_agg(g.p2::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit,
                 substring(string_agg(g.p3::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit,
                 substring(string_agg(g.p4::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit,
                 substring(string_agg(g.p5::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit,
                 substring(string_agg(g.p6::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit,
                 substring(string_agg(g.p7::bit(32)::text, '' ORDER BY g.c) FOR d)::varbit]
    INTO planes
    FROM (SELECT u.c,
                 bit_or((u.l & 1) << u.s) AS p0, bit_or(((u.l >> 1) & 1) << u.s) AS p1,
                 bit_or(((u.l >> 2) & 1) << u.s) AS p2, bit_or(((u.l >> 3) & 1) << u.s) AS p3,
                 bit_or(((u.l >> 4) & 1) << u.s) AS p4, bit_or(((u.l >> 5) & 1) << u.s) AS p5,
                 bit_or(((u.l >> 6) & 1) << u.s) AS p6, bit_or(((u.l >> 7) & 1) << u.s) AS p7
          FROM (SELECT (e.i - 1) / 32 AS c, (31 - (e.i - 1) % 32)::int AS s, round((e.v - lo) / step)::bigint AS l
                FROM unnest(v) WITH ORDINALITY AS e (v, i)) u
          GROUP BY u.c) g;
END
$$;

-- The attachment whose source column (else whose code column) is column_name, or an error naming what is missing.
CREATE FUNCTION compressae.attachment_of(tbl regclass, column_name name)
RETURNS compressae.attachments
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att compressae.attachments;
BEGIN
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
    RETURN att;
END
$$;

-- The table's single-column primary key, which names its rows, or an error.
CREATE FUNCTION compressae.key_column(tbl regclass)
RETURNS name
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pk name[];
BEGIN
    SELECT array_agg(a.attname) INTO pk
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = tbl AND i.indisprimary;
    IF cardinality(pk) IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'table % needs a single-column primary key to name its rows', tbl
            USING ERRCODE = 'invalid_table_definition';
    END IF;
    RETURN pk[1];
END
$$;

-- A filter of {column: value} pairs as SQL over the table's columns, the value read from the jsonb parameter
-- $<param> and cast to the column's type: the Python API's where= mapping, the same rows (JSON null: IS NULL;
-- an array: any of its values). Each column is checked and quoted, each value bound, never spliced, and each
-- compared by its type's own = (citext's too, from its schema), so the pinned search_path changes nothing.
CREATE FUNCTION compressae.filter_sql(tbl regclass, filter jsonb, param integer)
RETURNS text
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col   text;
    typ   text;
    eq    text;
    terms text[] := '{}';
BEGIN
    IF jsonb_typeof(filter) = 'null' THEN  -- a driver's None: no filter, as SQL NULL is
        RETURN 'true';
    END IF;
    IF jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION 'filter must be a JSON object of column: value pairs, not %', left(filter::text, 200)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'for example jsonb_build_object(''category'', $2); an array value matches any of its elements';
    END IF;
    FOR col IN SELECT jsonb_object_keys(filter) LOOP
        SELECT format_type(a.atttypid, a.atttypmod),
               (SELECT format('OPERATOR(%I.=)', o.oprnamespace::regnamespace::name) FROM pg_operator o
                WHERE o.oprname = '=' AND o.oprleft = a.atttypid AND o.oprright = a.atttypid)
        INTO typ, eq
        FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF typ IS NULL THEN
            RAISE EXCEPTION 'filter names column %, which table % does not have', quote_ident(col), tbl
                USING ERRCODE = 'undefined_column';
        END IF;
        eq := coalesce(eq, '=');
        terms := terms || CASE jsonb_typeof(filter -> col)
            WHEN 'null' THEN format('%I IS NULL', col)
            WHEN 'array' THEN format('%I %s ANY (CAST(ARRAY(SELECT jsonb_array_elements_text($%s -> %L)) AS %s[]))', col, eq, param, col, typ)
            ELSE format('%I %s CAST($%s ->> %L AS %s)', col, eq, param, col, typ)
        END;
    END LOOP;
    RETURN coalesce(nullif(array_to_string(terms, ' AND '), ''), 'true');
END
$$;

-- The residual sketch's parts, from the bits expression res of a row of a d-dimensional model: b (the sign
-- plane), m (the outer plane), c and a; no row when res is NULL or not bit(planes·d + 32). OFFSET 0 keeps
-- the planner from copying each substring into every term that reads it.
CREATE FUNCTION compressae.residual_parts(res text, d integer, planes integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(SELECT substring(%1$s FROM 1 FOR %2$s) AS b, substring(%1$s FROM %2$s + 1 FOR %2$s) AS m,'
                  ' substring(%1$s FROM %3$s + 1 FOR 16)::int / 65535.0::float8 AS cr,'
                  ' substring(%1$s FROM %3$s + 17 FOR 16)::int / (65535.0::float8 * sqrt(%2$s::float8)) AS ar'
                  ' WHERE length(%1$s) = %3$s + 32 OFFSET 0)', res, d, planes * d)
$$;

-- The residual's term of a score, a·(q̂·L), over the parts r.* above and the query's planes $6, lo $7, step
-- $8, total $9; clipped to what q̂·r can be, given the code's own score base = q̂·x̂: r ⟂ x̂ and |r| = √(1 − c²),
-- so |q̂·r| <= √(1 − c²)·√(1 − base²), and a code scoring at most 1 keeps its row at most 1.
CREATE FUNCTION compressae.residual_term(planes integer, base text)
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

DROP FUNCTION compressae.search(regclass, name, @vector_schema@.vector, integer, integer, text);

CREATE FUNCTION compressae.search(
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

-- Why compressae.search's reconstructed rerank gives the row whose primary key is key the score it does:
-- one row per atom of its code, the query's weight on the atom q̂·d_j (as compressae.project has it), the
-- row's value s_j and their contribution c·s_j·(q̂·d_j), largest first; then, where the row has a residual
-- sketch, a row with atom NULL holding the residual's term. The contributions sum to the search's score.
CREATE FUNCTION compressae.explain(tbl regclass, column_name name, query @vector_schema@.vector, key text)
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
