-- Back to 0015. A sketch of 2 planes has no reader before 0016: refuse while an attachment has one.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM compressae.attachments WHERE sketch_planes = 2) THEN
        RAISE EXCEPTION 'attachments with a 2-plane sketch exist; 0015 cannot search them'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'detach them before downgrading';
    END IF;
END
$$;

-- write_row_trigger_function as in 0010, and the sync functions written again by it.
CREATE OR REPLACE FUNCTION compressae.write_row_trigger_function(attachment_id bigint, or_replace boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att  compressae.attachments;
    ref  text;
    name text := 'compressae_sync_' || attachment_id;
    vs   name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
    body text;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync IN ('trigger', 'queue');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by trigger or queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    SELECT m.name || '@' || m.version INTO ref FROM compressae.models m WHERE m.id = att.model_id;
    IF att.sync = 'queue' THEN
        body := format('NEW.%I := NULL;', att.code_column)
                || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' NEW.%I := NULL;', att.sketch_column) END
                || CASE WHEN att.residual_column IS NULL THEN '' ELSE format(' NEW.%I := NULL;', att.residual_column) END;
    ELSE
        body := format('NEW.%I := compressae.encode(%L, NEW.%I);', att.code_column, ref, att.source_column)
                || CASE WHEN att.sketch_column IS NULL THEN ''
                        ELSE format(' NEW.%I := CASE WHEN NEW.%I IS NULL THEN NULL ELSE %I.binary_quantize(NEW.%I) END;',
                                    att.sketch_column, att.code_column, vs, att.source_column) END
                || CASE WHEN att.residual_column IS NULL THEN ''
                        ELSE format(' NEW.%I := compressae.residual(%L, NEW.%I, NEW.%I, %s);',
                                    att.residual_column, ref, att.source_column, att.code_column, att.residual_planes) END;
    END IF;
    EXECUTE format(
        'CREATE %s FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
        'SET search_path = pg_catalog, pg_temp AS %L',
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, att.table_schema, name, 'BEGIN ' || body || ' RETURN NEW; END');
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name,
                   CASE WHEN att.sync = 'queue'
                        THEN format('compressae: clears %I when %I changes (sync queue)', att.code_column, att.source_column)
                        ELSE format('compressae: keeps %I filled with %s codes of %I', att.code_column, ref, att.source_column) END);
END
$$;

DO $$
DECLARE
    a compressae.attachments;
BEGIN
    FOR a IN SELECT t.* FROM compressae.attachments t
             WHERE t.sync IN ('trigger', 'queue')
               AND (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(format('%I.%I', t.table_schema, t.table_name))) IN ('r', 'p')
             ORDER BY t.id LOOP
        PERFORM compressae.write_row_trigger_function(a.id, true);
    END LOOP;
END
$$;

-- search as in 0011.
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

-- attach as in 0010.
DROP FUNCTION compressae.attach(regclass, name, text, name, text, text, integer, integer);
CREATE FUNCTION compressae.attach(
    tbl             regclass,
    source_column   name,
    model           text,
    code_column     name DEFAULT NULL,
    sync            text DEFAULT 'none',
    graph           text DEFAULT 'sketch',
    residual_planes integer DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m        compressae.model_info;
    rel      record;
    src      record;
    code     name := coalesce(code_column, left(source_column || '_sae', 63)::name);
    sketch   name;
    residual name;
    planes   integer := coalesce(residual_planes, CASE WHEN graph = 'sparse' THEN 0 ELSE 2 END);
    att_id   bigint;
    vs       name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
BEGIN
    IF tbl IS NULL OR source_column IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'compressae.attach needs a table, a source column and a model'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF sync IS NULL OR sync NOT IN ('none', 'trigger', 'queue') THEN
        RAISE EXCEPTION 'sync must be none, trigger or queue, not %', quote_nullable(sync)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF graph IS NULL OR graph NOT IN ('sketch', 'sparse') THEN
        RAISE EXCEPTION 'graph must be sketch or sparse, not %', quote_nullable(graph)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF planes NOT IN (0, 1, 2) THEN
        RAISE EXCEPTION 'residual_planes must be 0, 1 or 2, not %', planes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT n.nspname, c.relname INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    SELECT t.typname, a.atttypmod INTO src
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = tbl AND a.attname = source_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column % does not exist in table %', quote_ident(source_column), tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    IF src.typname NOT IN ('vector', 'halfvec') THEN
        RAISE EXCEPTION 'column %.% has type %; expected vector or halfvec', tbl, quote_ident(source_column), src.typname
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    m := compressae.resolve_model(model);
    IF src.atttypmod > 0 AND src.atttypmod <> m.dim THEN
        RAISE EXCEPTION 'column %.% holds %-dimensional vectors but model %@% expects %',
            tbl, quote_ident(source_column), src.atttypmod, m.name, m.version, m.dim
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = code AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column % already exists in table %', quote_ident(code), tbl
            USING ERRCODE = 'duplicate_column',
                  HINT = 'pass another code_column name';
    END IF;
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I %I.sparsevec(%s)', tbl, code, vs, m.h);
    INSERT INTO compressae.attachments (table_schema, table_name, source_column, code_column, model_id, sync, graph, opclass)
    VALUES (rel.nspname, rel.relname, source_column, code, m.id, sync, 'sparse', 'sparsevec_cosine_ops')
    RETURNING id INTO att_id;
    IF graph = 'sketch' THEN
        sketch := compressae.fit_name(tbl, code, '_sketch', att_id::text, false);
        EXECUTE format('ALTER TABLE %s ADD COLUMN %I bit(%s)', tbl, sketch, m.dim);
        UPDATE compressae.attachments a SET graph = 'sketch', sketch_column = sketch, opclass = 'bit_hamming_ops'
        WHERE a.id = att_id;
    END IF;
    IF planes > 0 THEN
        residual := compressae.fit_name(tbl, code, '_residual', att_id::text, false);
        EXECUTE format('ALTER TABLE %s ADD COLUMN %I bit(%s)', tbl, residual, planes * m.dim + 32);
        UPDATE compressae.attachments a SET residual_column = residual, residual_planes = planes WHERE a.id = att_id;
    END IF;
    UPDATE compressae.attachments a
    SET index_name = compressae.fit_name(tbl, rel.relname || '_' || code, '_hnsw', att_id::text, true)
    WHERE a.id = att_id;
    IF sync IN ('trigger', 'queue') THEN
        PERFORM compressae.create_sync_trigger(att_id);
    END IF;
    RETURN att_id;
END
$$;

DROP FUNCTION compressae.sketch(@vector_schema@.halfvec, integer);
DROP FUNCTION compressae.sketch(@vector_schema@.vector, integer);
DROP FUNCTION compressae.shift(@vector_schema@.vector, integer);
ALTER TABLE compressae.attachments DROP CONSTRAINT attachments_sketch_planes_check, DROP COLUMN sketch_planes;
