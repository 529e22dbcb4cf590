-- 0005: create_sync_trigger also makes the triggers of a 'queue' attachment, and drop_sync_trigger
-- drops them. Of 'trigger' attachments nothing changes: the trigger still encodes in the statement
-- and refuses a write it cannot encode (README, "Keeping codes fresh", says why it stays strict).
--
-- A 'queue' attachment gets, all named after compressae_sync_<attachment id>:
--   * compressae_sync_<id>: BEFORE UPDATE OF the source, per row, only when the row has a code or a
--     sketch (the WHEN clause costs no function call): sets both to NULL;
--   * compressae_sync_<id>_insert and _update: AFTER INSERT / AFTER UPDATE, per statement, with the
--     statement's new rows as a transition table: one INSERT … SELECT appends one entry (one per
--     1,000 rows) holding the key of every new row with a source (after an UPDATE, of every row left
--     without a code: those whose source was set, and rows never coded) to compressae.sync_queue,
--     and NOTIFY compressae_sync_<id> wakes the workers. Statement triggers keep COPY's multi-row inserts (a BEFORE row trigger on
--     INSERT would turn them off); a worker's own write sets codes, so it queues nothing.
-- Nothing in them can fail on a vector: a bad one is queued like any other, and the worker records it.
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
    tbl  regclass;
    pk   name;
    coded text;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    IF att.sync = 'queue' THEN
        tbl := format('%I.%I', att.table_schema, att.table_name)::regclass;
        SELECT a.attname INTO pk
        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = tbl AND i.indisprimary AND i.indnkeyatts = 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'table % needs a single-column primary key to sync by queue', tbl
                USING ERRCODE = 'invalid_table_definition', HINT = 'the queue records changed rows by their key';
        END IF;
        coded := format('NEW.%I IS NOT NULL', att.code_column)
                 || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' OR NEW.%I IS NOT NULL', att.sketch_column) END;
        EXECUTE format(
            'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
            'SET search_path = pg_catalog, pg_temp AS %L',
            att.table_schema, name,
            format('BEGIN NEW.%I := NULL; %s RETURN NEW; END', att.code_column,
                   CASE WHEN att.sketch_column IS NULL THEN '' ELSE format('NEW.%I := NULL;', att.sketch_column) END));
        EXECUTE format(
            'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
            'SET search_path = pg_catalog, pg_temp AS %L',
            att.table_schema, name || '_queue',
            format('BEGIN INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, array_agg(s.k) FROM ('
                   'SELECT n.%I::text AS k, (row_number() OVER () - 1) / 1000 AS g FROM compressae_new n '
                   'WHERE n.%I IS NOT NULL AND (TG_OP = %L OR n.%I IS NULL)) s GROUP BY s.g; '
                   'IF FOUND THEN PERFORM pg_notify(%L, %L); END IF; RETURN NULL; END',
                   attachment_id, pk, att.source_column, 'INSERT', att.code_column, name, ''));
        EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name,
                       format('compressae: clears %I when %I changes (sync queue)', att.code_column, att.source_column));
        EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name || '_queue',
                       format('compressae: queues rows of %I for `compressae-pg sync` to encode into %I', att.source_column, att.code_column));
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
$$;

-- Drop an attachment's sync triggers and their functions, wherever the table has moved since: only
-- a function that create_sync_trigger made (in the table's schema, named compressae_sync_<id> or
-- compressae_sync_<id>_queue), not whatever function a trigger of one of those names points at.
CREATE OR REPLACE FUNCTION compressae.drop_sync_trigger(tbl regclass, attachment_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text := 'compressae_sync_' || attachment_id;
    trg  record;
    fns  regprocedure[] := '{}';
BEGIN
    FOR trg IN
        SELECT t.tgname, t.tgfoid::regprocedure AS fn,
               p.proname IN (base, base || '_queue') AND p.pronamespace = c.relnamespace AS ours
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE t.tgrelid = tbl AND t.tgname IN (base, base || '_insert', base || '_update') AND NOT t.tgisinternal
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trg.tgname, tbl);
        IF trg.ours AND NOT trg.fn = ANY (fns) THEN
            fns := fns || trg.fn;
        END IF;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(fns, 1), 0) LOOP
        EXECUTE format('DROP FUNCTION %s', fns[i]);
    END LOOP;
END
$$;
