-- Undo 0010, first part: every residual column goes (their codes and sketches stay), the row trigger
-- functions get back the text 0007's create_sync_trigger wrote, and the functions 0010 added go; then
-- downgrade_functions.sql and 0009's functions.sql restore the ones it replaced.
DO $$
DECLARE
    a    record;
    vs   name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
    body text;
BEGIN
    FOR a IN SELECT t.*, m.name || '@' || m.version AS ref FROM compressae.attachments t JOIN compressae.models m ON m.id = t.model_id
             WHERE t.residual_column IS NOT NULL ORDER BY t.id LOOP
        EXECUTE format('ALTER TABLE %I.%I DROP COLUMN IF EXISTS %I', a.table_schema, a.table_name, a.residual_column);
        UPDATE compressae.attachments SET residual_column = NULL, residual_planes = 0 WHERE id = a.id;
        CONTINUE WHEN a.sync NOT IN ('trigger', 'queue');
        body := CASE WHEN a.sync = 'queue'
            THEN format('BEGIN NEW.%I := NULL; %s RETURN NEW; END', a.code_column,
                        CASE WHEN a.sketch_column IS NULL THEN '' ELSE format('NEW.%I := NULL;', a.sketch_column) END)
            ELSE format('BEGIN NEW.%I := compressae.encode(%L, NEW.%I); %s RETURN NEW; END', a.code_column, a.ref, a.source_column,
                        CASE WHEN a.sketch_column IS NULL THEN ''
                             ELSE format('NEW.%I := CASE WHEN NEW.%I IS NULL THEN NULL ELSE %I.binary_quantize(NEW.%I) END;',
                                         a.sketch_column, a.code_column, vs, a.source_column) END) END;
        EXECUTE format('CREATE OR REPLACE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
                       'SET search_path = pg_catalog, pg_temp AS %L', a.table_schema, 'compressae_sync_' || a.id, body);
    END LOOP;
END
$$;
DROP FUNCTION compressae.attach(regclass, name, text, name, text, text, integer);
DROP FUNCTION compressae.write_row_trigger_function(bigint, boolean);
DROP FUNCTION compressae.residual(text, vector, sparsevec, integer);
DROP FUNCTION compressae.residual(text, halfvec, sparsevec, integer);
DROP FUNCTION compressae.masked_sum(text);
ALTER TABLE compressae.attachments DROP CONSTRAINT attachments_residual_check;
ALTER TABLE compressae.attachments DROP COLUMN residual_planes, DROP COLUMN residual_column;
