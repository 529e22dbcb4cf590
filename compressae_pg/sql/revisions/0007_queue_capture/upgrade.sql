-- 0007: the queue trigger appends its keys in 1,000-key slices of one array_agg, instead of grouping
-- row_number() windows: a bulk COPY through it measured 0.80x of no trigger before, 0.98x after
-- (benchmarks/sync.py, BENCHMARKS.md). write_sync_queue_function (re)writes an attachment's queue
-- function (CREATE, or with or_replace CREATE OR REPLACE), so this upgrade rewrites the existing ones
-- in place: no trigger is dropped or created, and no lock is taken on the application's tables.
CREATE FUNCTION compressae.write_sync_queue_function(attachment_id bigint, or_replace boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att  compressae.attachments;
    name text := 'compressae_sync_' || attachment_id || '_queue';
    pk   name;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync = 'queue';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    SELECT a.attname INTO pk
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = format('%I.%I', att.table_schema, att.table_name)::regclass AND i.indisprimary AND i.indnkeyatts = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table %.% needs a single-column primary key to sync by queue', quote_ident(att.table_schema), quote_ident(att.table_name)
            USING ERRCODE = 'invalid_table_definition', HINT = 'the queue records changed rows by their key';
    END IF;
    EXECUTE format(
        'CREATE %s FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
        'SET search_path = pg_catalog, pg_temp AS %L',
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, att.table_schema, name,
        format('BEGIN INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, a.keys[i:i + 999] FROM ('
               'SELECT array_agg(n.%I::text) AS keys FROM compressae_new n '
               'WHERE n.%I IS NOT NULL AND (TG_OP = %L OR n.%I IS NULL)) a, generate_series(1, cardinality(a.keys), 1000) AS i; '
               'IF FOUND THEN PERFORM pg_notify(%L, %L); END IF; RETURN NULL; END',
               attachment_id, pk, att.source_column, 'INSERT', att.code_column, 'compressae_sync_' || attachment_id, ''));
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name,
                   format('compressae: queues rows of %I for `compressae-pg sync` to encode into %I', att.source_column, att.code_column));
END
$$;

-- create_sync_trigger as in 0006, with the queue function written by write_sync_queue_function.
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
$$;


DO $$
DECLARE
    a bigint;
BEGIN
    FOR a IN SELECT id FROM compressae.attachments WHERE sync = 'queue' ORDER BY id LOOP
        PERFORM compressae.write_sync_queue_function(a, true);
    END LOOP;
END
$$;
