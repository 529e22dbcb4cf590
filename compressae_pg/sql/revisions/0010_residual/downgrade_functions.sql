-- Undo 0010, second part (after downgrade.sql): attach (of six arguments), detach, swap and create_sync_trigger as the
-- database held them at 0009 (pg_get_functiondef's text); search is 0009's, replayed from 0009_trust/functions.sql.
CREATE FUNCTION compressae.attach(tbl regclass, source_column name, model text, code_column name DEFAULT NULL::name, sync text DEFAULT 'none'::text, graph text DEFAULT 'sketch'::text)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION compressae.create_sync_trigger(attachment_id bigint)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att  compressae.attachments;
    ref  text;
    name text := 'compressae_sync_' || attachment_id;
    vs   name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
    tbl  regclass;
    coded text;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    IF att.sync = 'queue' THEN
        tbl := format('%I.%I', att.table_schema, att.table_name)::regclass;
        coded := format('NEW.%I IS NOT NULL', att.code_column)
                 || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' OR NEW.%I IS NOT NULL', att.sketch_column) END;
        PERFORM compressae.write_sync_queue_function(attachment_id, false);  -- first: it refuses a table without a key
        EXECUTE format(
            'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
            'SET search_path = pg_catalog, pg_temp AS %L',
            att.table_schema, name,
            format('BEGIN NEW.%I := NULL; %s RETURN NEW; END', att.code_column,
                   CASE WHEN att.sketch_column IS NULL THEN '' ELSE format('NEW.%I := NULL;', att.sketch_column) END));
        EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name,
                       format('compressae: clears %I when %I changes (sync queue)', att.code_column, att.source_column));
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OF %I ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.%I()',
                       name, att.source_column, tbl, coded, att.table_schema, name);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_insert', tbl, att.table_schema, name || '_queue');
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_update', tbl, att.table_schema, name || '_queue');
        RETURN;
    END IF;
    SELECT m.name || '@' || m.version INTO ref FROM compressae.models m WHERE m.id = att.model_id;
    EXECUTE format(
        'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
        'SET search_path = pg_catalog, pg_temp AS %L',
        att.table_schema, name,
        format('BEGIN NEW.%I := compressae.encode(%L, NEW.%I); %s RETURN NEW; END', att.code_column, ref, att.source_column,
               CASE WHEN att.sketch_column IS NULL THEN ''
                    ELSE format('NEW.%I := CASE WHEN NEW.%I IS NULL THEN NULL ELSE %I.binary_quantize(NEW.%I) END;',
                                att.sketch_column, att.code_column, vs, att.source_column) END)
    );
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name,
                   format('compressae: keeps %I filled with %s codes of %I', att.code_column, ref, att.source_column));
    EXECUTE format(
        'CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I()',
        name, att.source_column, att.table_schema, att.table_name, att.table_schema, name
    );
END
$function$
;
CREATE OR REPLACE FUNCTION compressae.detach(tbl regclass, code_column name)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$
;
CREATE OR REPLACE FUNCTION compressae.swap(tbl regclass, current_code name, staged_code name)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    old_att compressae.attachments;
    new_att compressae.attachments;
    sketch  name;
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
    UPDATE compressae.attachments
    SET code_column = current_code, index_name = old_att.index_name, sketch_column = sketch
    WHERE id = new_att.id;
    RETURN new_att.id;
END
$function$
;
