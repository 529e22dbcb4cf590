-- 0014: a recompress's swap rewrites the sync functions of the attachment it swaps in (issue 28, item 4).
-- Until now, on a table kept current by --sync trigger or queue, the swap renamed the staged code column to
-- the current one's name but left the staged attachment's trigger function writing the staged name
-- (NEW.<code>_next): after the swap every INSERT and UPDATE of the table failed.

-- swap as in 0010, then the swapped-in attachment's row trigger function (and queue function) written again
-- for its new column names.
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
    -- The staged attachment's sync functions were written for its staged column names: write them again
    -- for the names it has now, or every INSERT and UPDATE of the table would fail on the old name.
    IF new_att.sync IN ('trigger', 'queue') THEN
        PERFORM compressae.write_row_trigger_function(new_att.id, true);
        IF new_att.sync = 'queue' THEN
            PERFORM compressae.write_sync_queue_function(new_att.id, true);
        END IF;
        PERFORM compressae.write_row_triggers(new_att.id);
    END IF;
    RETURN new_att.id;
END
$$;

-- Tables already swapped under 0010..0013 get their sync functions rewritten for the names they have now
-- (a view in a dropped table's place is left alone, as 0012 does).
DO $$
DECLARE
    a compressae.attachments;
BEGIN
    FOR a IN SELECT t.* FROM compressae.attachments t
             WHERE t.sync IN ('trigger', 'queue')
               AND (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(format('%I.%I', t.table_schema, t.table_name))) IN ('r', 'p')
             ORDER BY t.id LOOP
        PERFORM compressae.write_row_trigger_function(a.id, true);
        IF a.sync = 'queue' THEN
            PERFORM compressae.write_sync_queue_function(a.id, true);
        END IF;
    END LOOP;
END
$$;
