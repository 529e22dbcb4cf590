-- Finish a re-compression: the code column `staged_code` (filled with a new model's codes) takes
-- the place of `current_code`. In one transaction: `current_code` is detached (its column and index
-- dropped), `staged_code` is renamed to `current_code`, its index takes the old index's name, and the
-- attachment record follows. Applications keep querying the same column and index names throughout.
CREATE OR REPLACE FUNCTION compressae.swap(tbl regclass, current_code name, staged_code name)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    old_att compressae.attachments;
    new_att compressae.attachments;
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
    IF to_regclass(format('%I.%I', new_att.table_schema, new_att.index_name)) IS NOT NULL THEN
        EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', new_att.table_schema, new_att.index_name, old_att.index_name);
    END IF;
    UPDATE compressae.attachments SET code_column = current_code, index_name = old_att.index_name WHERE id = new_att.id;
    RETURN new_att.id;
END
$$;
