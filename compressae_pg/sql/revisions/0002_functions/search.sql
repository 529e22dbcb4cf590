-- compressae.search(tbl, column_name, query, k, candidates, rerank): the k rows of `tbl` nearest
-- `query`, for applications that never touch Python. `column_name` is the source vector column of
-- an attachment (or its code column). The query's own code, compressae.encode(model, query), drives
-- the HNSW index on the code column, which returns `candidates` rows by sparse cosine; `rerank`
-- orders them and the best k come back, with the primary key as text and a cosine as the score:
--   'none'           cos(query code, code): the index's own order
--   'reconstructed'  cos(query, decode(code)) = project(query / |query|) · code, O(k) per candidate
--   'symmetric'      cos(decode(query code), decode(code)) = project(decode(query code)) · code
--   'dense'          cos(query, source): exact, from the source column (rows without one are left out)
-- hnsw.ef_search is raised to `candidates` and pgvector's iterative index scan is on (relaxed
-- order) for this call only: the SET clauses restore both when it returns. NULL in, no rows out.
CREATE OR REPLACE FUNCTION compressae.search(
    tbl         regclass,
    column_name name,
    query       vector,
    k           integer DEFAULT 10,
    candidates  integer DEFAULT 100,
    rerank      text DEFAULT 'reconstructed'
)
RETURNS TABLE (key text, score double precision)
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
SET hnsw.ef_search = 40
SET hnsw.iterative_scan = relaxed_order
AS $$
DECLARE
    att       compressae.attachments;
    m         compressae.models;
    ref       text;
    pk        text[];
    has_src   boolean;
    qcode     sparsevec;
    probe     sparsevec;
    score_sql text;
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
    qcode := compressae.encode(ref, query);
    probe := CASE rerank
        WHEN 'reconstructed' THEN compressae.project(ref, l2_normalize(query))
        WHEN 'symmetric' THEN compressae.project(ref, l2_normalize(compressae.decode(ref, qcode)))
    END;
    score_sql := CASE rerank
        WHEN 'none' THEN '1 - c.distance'
        WHEN 'dense' THEN '1 - (c.source::vector <=> $5)'
        ELSE '-(c.code <#> $4)'
    END;
    PERFORM set_config('hnsw.ef_search', least(greatest(candidates, k, 40), 1000)::text, true);
    RETURN QUERY EXECUTE format(
        'SELECT c.key::text, %s AS score
         FROM (SELECT %I AS key, %I AS code, %s AS source, %I <=> $1 AS distance
               FROM %s WHERE %I IS NOT NULL ORDER BY %I <=> $1 LIMIT $2) c
         WHERE %s IS NOT NULL
         ORDER BY 2 DESC, c.distance
         LIMIT $3',
        score_sql, pk[1], att.code_column, CASE WHEN rerank = 'dense' THEN quote_ident(att.source_column) ELSE 'NULL' END,
        att.code_column, tbl, att.code_column, att.code_column, score_sql)
    USING qcode, greatest(candidates, k), k, probe, query;
END
$$;
