-- 0010: the residual sketch (compressae_pg/_residual.py says what it is). Beside a code column, `<code>_residual
-- bit(planes·d + 32)` keeps 1 or 2 bits per dimension of what the code misses, r = x − c·x̂, and two scales;
-- candidates are then scored c·(q·x̂) + a·(q·L) instead of q·x̂. attach takes residual_planes (default 2 with
-- the sketch graph, 0 with the paper's sparse graph); every writer of codes writes it; compressae.search
-- scores with it, and a row without one yet (written before this revision) keeps the score of 0009.
-- Existing sketch attachments get the column here (no table rewrite: a NULL column); a backfill fills it.
ALTER TABLE compressae.attachments
    ADD COLUMN residual_column text,
    ADD COLUMN residual_planes integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT attachments_residual_check CHECK (
        (residual_planes = 0 AND residual_column IS NULL) OR (residual_planes IN (1, 2) AND residual_column IS NOT NULL));
COMMENT ON COLUMN compressae.attachments.residual_column IS 'the residual sketch beside the code: bit(residual_planes·d + 32)';

-- compressae.residual(model, v, code, planes): the residual sketch of v given its code, as _residual.sketch
-- computes it, in float8: x = v/|v|, x̂ = decode(code)/|decode(code)|, c = x·x̂, r = x − c·x̂; the sign
-- plane (1 where r_i > 0), with 2 planes the plane of |r_i| > 0.9816·|r|/√d (levels ±1 and ±3.336, the
-- 2-bit Lloyd–Max quantizer of a normal variable), then c and a·√d as 16-bit fractions, a = (r·L)/(L·L).
-- NULL in, NULL out.
CREATE FUNCTION compressae.residual(model text, v @vector_schema@.vector, code @vector_schema@.sparsevec, planes integer)
RETURNS varbit
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m   compressae.model_info := compressae.resolve_model(model);
    x   real[] := compressae.check_input(v, m.dim, m.name || '@' || m.version)::real[];
    d   real[] := compressae.decode(model, code)::real[];
    out text;
BEGIN
    IF planes NOT IN (1, 2) THEN
        RAISE EXCEPTION 'a residual sketch has 1 or 2 planes, not %', planes USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH e AS (
        SELECT u.i, u.xv::float8 AS xv, u.dv::float8 AS dv FROM unnest(x, d) WITH ORDINALITY AS u (xv, dv, i)
    ), n AS (
        SELECT sqrt(sum(e.xv * e.xv)) AS xn, sqrt(sum(e.dv * e.dv)) AS dn FROM e
    ), c AS (
        SELECT sum((e.xv / n.xn) * (e.dv / n.dn)) AS c FROM e, n
    ), r AS (
        SELECT e.i, e.xv / n.xn - c.c * (e.dv / n.dn) AS r FROM e, n, c
    ), sd AS (
        SELECT sqrt(sum(r.r * r.r) / m.dim) AS sigma FROM r
    ), l AS (
        SELECT r.i, r.r, r.r > 0 AS pos, planes = 2 AND abs(r.r) > 0.9816 * sd.sigma AS big FROM r, sd
    ), s AS (
        SELECT sum(abs(l.r) * CASE WHEN l.big THEN 3.336 ELSE 1 END) / sum(CASE WHEN l.big THEN 3.336 * 3.336 ELSE 1 END) AS a FROM l
    )
    SELECT string_agg(CASE WHEN l.pos THEN '1' ELSE '0' END, '' ORDER BY l.i)
           || CASE WHEN planes = 2 THEN string_agg(CASE WHEN l.big THEN '1' ELSE '0' END, '' ORDER BY l.i) ELSE '' END
           || (round(least(greatest((SELECT c.c FROM c), 0), 1) * 65535)::int::bit(16))::text
           || (round(least(greatest((SELECT s.a FROM s) * sqrt(m.dim), 0), 1) * 65535)::int::bit(16))::text
    INTO out
    FROM l;
    RETURN out::varbit;
END
$$;

CREATE FUNCTION compressae.residual(model text, v @vector_schema@.halfvec, code @vector_schema@.sparsevec, planes integer)
RETURNS varbit
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT compressae.residual(model, v::@vector_schema@.vector, code, planes) $$;

-- The function behind an attachment's BEFORE row trigger ('trigger': encode, sketch and residual in the
-- application's transaction; 'queue': clear them for a sync worker), written as CREATE, or with or_replace
-- CREATE OR REPLACE: so that this revision, and any later one, rewrites existing triggers in place.
CREATE FUNCTION compressae.write_row_trigger_function(attachment_id bigint, or_replace boolean)
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

-- create_sync_trigger as in 0007, its row functions written by write_row_trigger_function.
CREATE OR REPLACE FUNCTION compressae.create_sync_trigger(attachment_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att   compressae.attachments;
    name  text := 'compressae_sync_' || attachment_id;
    tbl   regclass;
    coded text;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    tbl := format('%I.%I', att.table_schema, att.table_name)::regclass;
    IF att.sync = 'queue' THEN
        coded := format('NEW.%I IS NOT NULL', att.code_column)
                 || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' OR NEW.%I IS NOT NULL', att.sketch_column) END;
        PERFORM compressae.write_sync_queue_function(attachment_id, false);  -- first: it refuses a table without a key
        PERFORM compressae.write_row_trigger_function(attachment_id, false);
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OF %I ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.%I()',
                       name, att.source_column, tbl, coded, att.table_schema, name);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_insert', tbl, att.table_schema, name || '_queue');
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_update', tbl, att.table_schema, name || '_queue');
        RETURN;
    END IF;
    PERFORM compressae.write_row_trigger_function(attachment_id, false);
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I()',
                   name, att.source_column, tbl, att.table_schema, name);
END
$$;

-- attach as in 0004, with residual_planes: NULL is 2 with the sketch graph and 0 with the sparse one.
DROP FUNCTION compressae.attach(regclass, name, text, name, text, text);
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

-- detach as in 0004, dropping the residual column too.
CREATE OR REPLACE FUNCTION compressae.detach(tbl regclass, code_column name)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att compressae.attachments;
BEGIN
    SELECT a.* INTO att FROM compressae.attachments a
    JOIN pg_namespace n ON n.nspname = a.table_schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
    WHERE c.oid = tbl AND a.code_column = detach.code_column;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no compressed column % is attached to table %', quote_ident(code_column), tbl
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM compressae.drop_sync_trigger(tbl, att.id);
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, code_column);
    IF att.sketch_column IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', tbl, att.sketch_column);
    END IF;
    IF att.residual_column IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', tbl, att.residual_column);
    END IF;
    DELETE FROM compressae.sync_queue WHERE attachment_id = att.id;
    DELETE FROM compressae.attachments WHERE id = att.id;
END
$$;

-- swap as in 0004: the staged residual column, if any, takes the current one's name too.
CREATE OR REPLACE FUNCTION compressae.swap(tbl regclass, current_code name, staged_code name)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_att  compressae.attachments;
    new_att  compressae.attachments;
    sketch   name;
    residual name;
BEGIN
    SELECT a.* INTO old_att FROM compressae.attachments a
    JOIN pg_namespace n ON n.nspname = a.table_schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
    WHERE c.oid = tbl AND a.code_column = current_code;
    SELECT a.* INTO new_att FROM compressae.attachments a
    JOIN pg_namespace n ON n.nspname = a.table_schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
    WHERE c.oid = tbl AND a.code_column = staged_code;
    IF old_att.id IS NULL OR new_att.id IS NULL THEN
        RAISE EXCEPTION 'both % and % must be code columns attached to table %', quote_ident(current_code), quote_ident(staged_code), tbl
            USING ERRCODE = 'undefined_object';
    END IF;
    IF old_att.source_column <> new_att.source_column THEN
        RAISE EXCEPTION 'code columns % and % encode different source columns (% and %)',
            quote_ident(current_code), quote_ident(staged_code), quote_ident(old_att.source_column), quote_ident(new_att.source_column)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM compressae.detach(tbl, current_code);
    EXECUTE format('ALTER TABLE %s RENAME COLUMN %I TO %I', tbl, staged_code, current_code);
    IF (SELECT i.indrelid FROM pg_index i
        WHERE i.indexrelid = to_regclass(format('%I.%I', new_att.table_schema, new_att.index_name))) = tbl THEN
        EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', new_att.table_schema, new_att.index_name, old_att.index_name);
    END IF;
    IF new_att.sketch_column IS NOT NULL THEN
        sketch := compressae.fit_name(tbl, current_code, '_sketch', new_att.id::text, false);
        IF old_att.sketch_column IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = old_att.sketch_column AND attnum > 0 AND NOT attisdropped) THEN
            sketch := old_att.sketch_column;
        END IF;
        EXECUTE format('ALTER TABLE %s RENAME COLUMN %I TO %I', tbl, new_att.sketch_column, sketch);
    END IF;
    IF new_att.residual_column IS NOT NULL THEN
        residual := compressae.fit_name(tbl, current_code, '_residual', new_att.id::text, false);
        IF old_att.residual_column IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = old_att.residual_column AND attnum > 0 AND NOT attisdropped) THEN
            residual := old_att.residual_column;
        END IF;
        EXECUTE format('ALTER TABLE %s RENAME COLUMN %I TO %I', tbl, new_att.residual_column, residual);
    END IF;
    UPDATE compressae.attachments
    SET code_column = current_code, index_name = old_att.index_name, sketch_column = sketch, residual_column = residual
    WHERE id = new_att.id;
    RETURN new_att.id;
END
$$;

-- The SQL text of the sum of the quantized query over the bits of `mask` (a bit(d) expression), in the
-- terms compressae.search passes: $6 the query's 8 bit planes, $7 its lowest value, $8 its step.
CREATE FUNCTION compressae.masked_sum(mask text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('($7 * bit_count(%1$s) + $8 * (%2$s))', mask,
                  string_agg(format('%s * bit_count(%s & $6[%s])', 1 << j, mask, j + 1), ' + ' ORDER BY j))
    FROM generate_series(0, 7) AS j
$$;

-- search as in 0009, scoring with the residual sketch where the attachment has one (above).
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

-- Existing attachments over the sketch graph get a 2-plane residual column: added NULL (no rewrite of
-- the table, a brief lock that waits at most 10 s behind the application's queries), filled by the next
-- backfill; their sync triggers' row functions are rewritten in place to write (or clear) it.
DO $$
DECLARE
    a      record;
    col    name;
    before text := current_setting('lock_timeout');
BEGIN
    PERFORM set_config('lock_timeout', '10s', true);
    FOR a IN SELECT t.id, t.table_schema, t.table_name, t.code_column, t.sync, m.dim
             FROM compressae.attachments t JOIN compressae.models m ON m.id = t.model_id
             WHERE t.graph = 'sketch' ORDER BY t.id LOOP
        col := compressae.fit_name(format('%I.%I', a.table_schema, a.table_name)::regclass, a.code_column, '_residual', a.id::text, false);
        EXECUTE format('ALTER TABLE %I.%I ADD COLUMN %I bit(%s)', a.table_schema, a.table_name, col, 2 * a.dim + 32);
        UPDATE compressae.attachments SET residual_column = col, residual_planes = 2 WHERE id = a.id;
        IF a.sync IN ('trigger', 'queue') THEN
            PERFORM compressae.write_row_trigger_function(a.id, true);
        END IF;
    END LOOP;
    PERFORM set_config('lock_timeout', before, true);
END
$$;
