-- 0004: both functions run with search_path = pg_catalog, pg_temp, and drop_sync_trigger drops only
-- the function that create_sync_trigger made (named as the trigger, in the table's schema), not
-- whatever function a trigger of that name was pointed at.
-- 0004: the sync trigger also fills the sketch column (binary_quantize of the source, NULL where the
-- code is NULL) of a 'sketch' attachment.
-- The sync trigger of an attachment: BEFORE INSERT OR UPDATE OF the source column, it sets the
-- code column to compressae.encode(model, source) (NULL for a NULL source). Its function is
-- generated per attachment, with the column names and the exact model version written into the
-- body (format %I/%L), because reading NEW through jsonb in one generic function is far slower.
-- Function and trigger are named compressae_sync_<attachment id>; the function lives in the
-- table's schema, so the role that attaches needs CREATE there (the table's owner usually has it).
CREATE OR REPLACE FUNCTION compressae.create_sync_trigger(attachment_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att  compressae.attachments;
    ref  text;
    name text := 'compressae_sync_' || attachment_id;
    vs   name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
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
$$;

-- Drop an attachment's sync trigger and its function, wherever the table has moved since.
CREATE OR REPLACE FUNCTION compressae.drop_sync_trigger(tbl regclass, attachment_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    trg record;
BEGIN
    SELECT t.tgname, t.tgfoid::regprocedure AS fn, p.proname = t.tgname AND p.pronamespace = c.relnamespace AS ours INTO trg
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE t.tgrelid = tbl AND t.tgname = 'compressae_sync_' || attachment_id;
    IF FOUND THEN
        EXECUTE format('DROP TRIGGER %I ON %s', trg.tgname, tbl);
        IF trg.ours THEN
            EXECUTE format('DROP FUNCTION %s', trg.fn);
        END IF;
    END IF;
END
$$;
