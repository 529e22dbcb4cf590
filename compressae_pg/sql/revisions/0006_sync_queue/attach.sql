-- 0005: attach takes sync => 'queue' (the table needs a single-column primary key: the queue records
-- rows by it), and detach also deletes the attachment's queue entries (its failures go with the
-- attachment row).
CREATE OR REPLACE FUNCTION compressae.attach(
    tbl           regclass,
    source_column name,
    model         text,
    code_column   name DEFAULT NULL,
    sync          text DEFAULT 'none',
    graph         text DEFAULT 'sketch'
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
    UPDATE compressae.attachments a
    SET index_name = compressae.fit_name(tbl, rel.relname || '_' || code, '_hnsw', att_id::text, true)
    WHERE a.id = att_id;
    IF sync IN ('trigger', 'queue') THEN
        PERFORM compressae.create_sync_trigger(att_id);
    END IF;
    RETURN att_id;
END
$$;

-- Detach: drop the sync trigger if any, the code column and the sketch column (their index goes
-- with them) and the attachment record. Every other column of the table is left as it was.
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
    DELETE FROM compressae.sync_queue WHERE attachment_id = att.id;
    DELETE FROM compressae.attachments WHERE id = att.id;
END
$$;
