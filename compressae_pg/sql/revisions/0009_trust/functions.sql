-- 0009: every function that kept pgvector's schema on its search_path now pins
-- search_path = pg_catalog, pg_temp and names pgvector's types, functions and operators by schema
-- (OPERATOR(schema.<#>)). With pgvector's schema on the path, a function a role planted there with
-- an exact argument type (abs(real), sqrt(real), round(float8, int)...) outranked the pg_catalog
-- built-in that needs a cast, and ran as whoever called encode or search: a superuser, or the table's
-- owner. The maths and the messages are those of the revisions that last defined each function
-- (0002; least_squares and search 0004; encode 0008).

CREATE OR REPLACE FUNCTION compressae.resolve_model(ref text)
RETURNS compressae.model_info
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at        int := length(ref) - strpos(reverse(ref), '@') + 1;
    v_name    text := ref;
    v_version int;
    hit       compressae.model_info;
BEGIN
    IF ref IS NULL THEN
        RETURN NULL;
    END IF;
    IF strpos(ref, '@') > 0 THEN
        v_name := left(ref, at - 1);
        IF substr(ref, at + 1) !~ '^[0-9]+$' OR v_name = '' THEN
            RAISE EXCEPTION 'invalid model reference %: expected name or name@version', quote_literal(ref)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_version := substr(ref, at + 1)::int;
    END IF;
    SELECT m.* INTO hit
    FROM compressae.model_info m
    WHERE m.name = v_name AND (v_version IS NULL OR m.version = v_version)
    ORDER BY m.version DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown model %', quote_literal(ref)
            USING ERRCODE = 'undefined_object',
                  HINT = 'compressae-pg models lists the stored models';
    END IF;
    RETURN hit;
END
$$;

CREATE OR REPLACE FUNCTION compressae.sparse_entries(
    s       @vector_schema@.sparsevec,
    OUT dims integer,
    OUT idx  integer[],
    OUT val  real[]
)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT split_part(t.txt, '/', 2)::integer,
           coalesce(array_agg(split_part(e.entry, ':', 1)::integer - 1 ORDER BY e.ord) FILTER (WHERE e.entry IS NOT NULL), '{}'),
           coalesce(array_agg(split_part(e.entry, ':', 2)::real ORDER BY e.ord) FILTER (WHERE e.entry IS NOT NULL), '{}')
    FROM (SELECT s::text) AS t (txt)
    LEFT JOIN LATERAL string_to_table(nullif(btrim(split_part(t.txt, '/', 1), '{}'), ''), ',')
        WITH ORDINALITY AS e (entry, ord) ON true
    GROUP BY t.txt
$$;

CREATE OR REPLACE FUNCTION compressae.check_input(v @vector_schema@.vector, dim integer, ref text)
RETURNS @vector_schema@.vector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF @vector_schema@.vector_dims(v) <> dim THEN
        RAISE EXCEPTION 'model % expects %-dimensional vectors, got %', ref, dim, @vector_schema@.vector_dims(v)
            USING ERRCODE = 'data_exception';
    END IF;
    IF @vector_schema@.vector_norm(v) = 0 THEN
        RAISE EXCEPTION 'cannot use an all-zero vector with model %: it has no direction', ref
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION compressae.decode_atoms(model_id bigint, dim integer, idx integer[], val float8[])
RETURNS @vector_schema@.vector
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(@vector_schema@.sum(a.decoder OPERATOR(@vector_schema@.*) array_fill(e.v::real, ARRAY[dim])::@vector_schema@.vector),
                    array_fill(0::real, ARRAY[dim])::@vector_schema@.vector)
    FROM unnest(idx, val) AS e (i, v)
    JOIN compressae.decoder_atoms a ON a.model_id = decode_atoms.model_id AND a.idx = e.i
$$;

CREATE OR REPLACE FUNCTION compressae.least_squares(model_id bigint, x @vector_schema@.vector, idx integer[])
RETURNS float8[]
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n    integer := cardinality(idx);
    rows @vector_schema@.vector[];
    g    float8[] := array_fill(0::float8, ARRAY[n * n]);
    b    float8[] := array_fill(0::float8, ARRAY[n]);
    l    float8[] := array_fill(0::float8, ARRAY[n * n]);
    y    float8[] := array_fill(0::float8, ARRAY[n]);
    v    float8[] := array_fill(0::float8, ARRAY[n]);
    s    float8;
BEGIN
    SELECT array_agg(a.decoder ORDER BY e.o) INTO rows
    FROM unnest(idx) WITH ORDINALITY AS e (i, o)
    JOIN compressae.decoder_atoms a ON a.model_id = least_squares.model_id AND a.idx = e.i;
    IF cardinality(rows) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'model % has no atom among %', model_id, idx USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- D x, and the lower triangle of G = D Dᵀ (all that the Cholesky factorisation reads)
    FOR i IN 1 .. n LOOP
        b[i] := -(rows[i] OPERATOR(@vector_schema@.<#>) x);
        FOR j IN 1 .. i LOOP
            g[(i - 1) * n + j] := -(rows[i] OPERATOR(@vector_schema@.<#>) rows[j]);
        END LOOP;
    END LOOP;
    -- G + ridge·I = L Lᵀ, then L y = b, Lᵀ v = y
    FOR j IN 1 .. n LOOP
        s := g[(j - 1) * n + j] + 1e-4;
        FOR p IN 1 .. j - 1 LOOP
            s := s - l[(j - 1) * n + p] * l[(j - 1) * n + p];
        END LOOP;
        IF NOT s >= greatest(0.5e-4, 1e-6 * (g[(j - 1) * n + j] + 1e-4)) THEN  -- NOT >=: NaN is refused too
            RAISE EXCEPTION 'compressae: numerically dependent atoms in the support of model %: atom % is a combination of atoms % (Cholesky pivot %)',
                model_id, idx[j], idx[1:j - 1], s
                USING ERRCODE = 'data_exception',
                      HINT = 'the model''s decoder has duplicate or near-duplicate atoms of large norm; retrain or renormalise its decoder rows';
        END IF;
        l[(j - 1) * n + j] := sqrt(s);
        FOR i IN j + 1 .. n LOOP
            s := g[(i - 1) * n + j];
            FOR p IN 1 .. j - 1 LOOP
                s := s - l[(i - 1) * n + p] * l[(j - 1) * n + p];
            END LOOP;
            l[(i - 1) * n + j] := s / l[(j - 1) * n + j];
        END LOOP;
    END LOOP;
    FOR i IN 1 .. n LOOP
        s := b[i];
        FOR p IN 1 .. i - 1 LOOP
            s := s - l[(i - 1) * n + p] * y[p];
        END LOOP;
        y[i] := s / l[(i - 1) * n + i];
    END LOOP;
    FOR i IN REVERSE n .. 1 LOOP
        s := y[i];
        FOR p IN i + 1 .. n LOOP
            s := s - l[(p - 1) * n + i] * v[p];
        END LOOP;
        v[i] := s / l[(i - 1) * n + i];
    END LOOP;
    RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION compressae.encode(model text, v @vector_schema@.vector)
RETURNS @vector_schema@.sparsevec
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m        compressae.model_info := compressae.resolve_model(model);
    x        @vector_schema@.vector := @vector_schema@.l2_normalize(compressae.check_input(v, m.dim, m.name || '@' || m.version));
    chosen   integer[];
    val      float8[];
    more     integer[];
    residual @vector_schema@.vector;
    stages   integer := 0;  -- pursuit stages: none without pursuit
    per      integer;
    norm     float8;
    code     real[] := array_fill(0::real, ARRAY[m.h]);
BEGIN
    -- (A window function here to number the picks would sort all h rows: 7x slower.)
    SELECT array_agg(t.idx ORDER BY abs(t.pre) DESC), array_agg(t.pre ORDER BY abs(t.pre) DESC) INTO chosen, val
    FROM (
        SELECT a.idx, a.pre
        FROM (SELECT e.idx, e.bias - (e.encoder OPERATOR(@vector_schema@.<#>) x) AS pre
              FROM compressae.encoder_atoms e WHERE e.model_id = m.id) a
        ORDER BY abs(a.pre) DESC
        LIMIT m.k - m.pursuit
    ) t;
    IF m.pursuit > 0 THEN
        SELECT mo.stages INTO stages FROM compressae.models mo WHERE mo.id = m.id;
        per := m.pursuit / stages;
    END IF;
    FOR stage IN 1 .. stages LOOP
        residual := x OPERATOR(@vector_schema@.-) compressae.decode_atoms(m.id, m.dim, chosen, compressae.least_squares(m.id, x, chosen));
        -- The support is orthogonal to the residual, so it never ranks; it is left out after the
        -- scan (a per-row `<> ALL (chosen)` filter would cost more than the scan itself).
        SELECT array_agg(t.idx ORDER BY t.corr DESC) INTO more
        FROM (
            SELECT d.idx, abs(d.decoder OPERATOR(@vector_schema@.<#>) residual) AS corr
            FROM compressae.decoder_atoms d
            WHERE d.model_id = m.id
            ORDER BY 2 DESC
            LIMIT per + cardinality(chosen)
        ) t;
        chosen := chosen || (SELECT array_agg(i ORDER BY o) FROM (
            SELECT i, o FROM unnest(more) WITH ORDINALITY AS u (i, o) WHERE i <> ALL (chosen) ORDER BY o LIMIT per) kept);
    END LOOP;
    IF m.refit THEN
        val := compressae.least_squares(m.id, x, chosen);
    END IF;
    norm := @vector_schema@.vector_norm(compressae.decode_atoms(m.id, m.dim, chosen, val));
    IF norm = 0 THEN
        RAISE EXCEPTION 'model %@% decodes this vector to zero; it has no code', m.name, m.version
            USING ERRCODE = 'data_exception';
    END IF;
    -- Built as a dense array and cast, not as text: real's text form depends on extra_float_digits.
    FOR i IN 1 .. cardinality(chosen) LOOP
        code[chosen[i] + 1] := (val[i] / norm)::real;
    END LOOP;
    RETURN code::@vector_schema@.sparsevec;
END
$$;

CREATE OR REPLACE FUNCTION compressae.encode(model text, v @vector_schema@.halfvec)
RETURNS @vector_schema@.sparsevec
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT compressae.encode(model, v::@vector_schema@.vector) $$;

CREATE OR REPLACE FUNCTION compressae.decode(model text, s @vector_schema@.sparsevec)
RETURNS @vector_schema@.vector
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m compressae.model_info := compressae.resolve_model(model);
    e record := compressae.sparse_entries(s);
BEGIN
    IF e.dims <> m.h THEN
        RAISE EXCEPTION 'model %@% has % atoms but the code has % dimensions', m.name, m.version, m.h, e.dims
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN compressae.decode_atoms(m.id, m.dim, e.idx, e.val::float8[]);
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
    -- atoms.idx runs 0 .. h-1 without gaps (registry.save writes them so): position idx+1.
    -- MATERIALIZED: the products are computed before the sort, which then moves 4096 narrow rows
    -- rather than 4096 decoder vectors.
    RETURN (WITH p AS MATERIALIZED (SELECT a.idx, -(a.decoder OPERATOR(@vector_schema@.<#>) x) AS v
                                    FROM compressae.decoder_atoms a WHERE a.model_id = m.id)
            SELECT array_agg(p.v::real ORDER BY p.idx) FROM p)::@vector_schema@.sparsevec;
END
$$;

CREATE OR REPLACE FUNCTION compressae.project(model text, q @vector_schema@.halfvec)
RETURNS @vector_schema@.sparsevec
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT compressae.project(model, q::@vector_schema@.vector) $$;

CREATE OR REPLACE FUNCTION compressae.similarity(model text, a @vector_schema@.sparsevec, b @vector_schema@.sparsevec)
RETURNS float8
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    xa @vector_schema@.vector := compressae.decode(model, a);
    xb @vector_schema@.vector := compressae.decode(model, b);
    na float8 := @vector_schema@.vector_norm(xa);
    nb float8 := @vector_schema@.vector_norm(xb);
BEGIN
    IF na = 0 OR nb = 0 THEN
        RAISE EXCEPTION 'code % decodes to the zero vector and has no direction', CASE WHEN na = 0 THEN 'a' ELSE 'b' END
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN -(xa OPERATOR(@vector_schema@.<#>) xb) / (na * nb);
END
$$;

CREATE OR REPLACE FUNCTION compressae.search(
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
    PERFORM set_config('hnsw.ef_search', least(greatest(candidates, k, 40), 1000)::text, true);
    RETURN QUERY EXECUTE format(
        'SELECT c.key::text, %s AS score
         FROM (SELECT %I AS key, %I AS code, %s AS source, %I %s AS distance
               FROM %s WHERE %I IS NOT NULL AND %I IS NOT NULL ORDER BY %I %s LIMIT $2) c
         WHERE %s IS NOT NULL
         ORDER BY 2 DESC, c.distance
         LIMIT $3',
        score_sql, pk[1], att.code_column, CASE WHEN rerank = 'dense' THEN quote_ident(att.source_column) ELSE 'NULL' END,
        graph_col, op, tbl, att.code_column, graph_col, graph_col, op, score_sql)
    USING CASE WHEN att.graph = 'sketch' THEN bits::text ELSE qcode::text END, greatest(candidates, k), k, probe, query;
END
$$;
