-- Back to 0011: the queue functions without pinned key settings (0009's write_sync_queue_function), the row
-- triggers on `UPDATE OF <source>` again (0010's create_sync_trigger), and no write_row_triggers.
CREATE OR REPLACE FUNCTION compressae.write_sync_queue_function(attachment_id bigint, or_replace boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att   compressae.attachments;
    name  text := 'compressae_sync_' || attachment_id || '_queue';
    pk    name;
    tbl   regclass;
    owner regrole;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync = 'queue';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    tbl := format('%I.%I', att.table_schema, att.table_name)::regclass;
    SELECT c.relowner::regrole INTO owner FROM pg_class c WHERE c.oid = tbl;
    SELECT a.attname INTO pk
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = tbl AND i.indisprimary AND i.indnkeyatts = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table %.% needs a single-column primary key to sync by queue', quote_ident(att.table_schema), quote_ident(att.table_name)
            USING ERRCODE = 'invalid_table_definition', HINT = 'the queue records changed rows by their key';
    END IF;
    IF NOT has_table_privilege(owner, 'compressae.sync_queue', 'INSERT') THEN
        RAISE EXCEPTION 'role %, the owner of table %, may not append to compressae.sync_queue', owner, tbl
            USING ERRCODE = 'insufficient_privilege', HINT = format('run `compressae-pg db grant %s` first', owner);
    END IF;
    EXECUTE format(
        'CREATE %s FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
        'SET search_path = pg_catalog, pg_temp AS %L',
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, att.table_schema, name,
        format('BEGIN IF TG_RELID <> %s::oid THEN RAISE EXCEPTION %L USING ERRCODE = %L; END IF; '
               'INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, a.keys[i:i + 999] FROM ('
               'SELECT array_agg(n.%I::text) AS keys FROM compressae_new n '
               'WHERE n.%I IS NOT NULL AND (TG_OP = %L OR n.%I IS NULL)) a, generate_series(1, cardinality(a.keys), 1000) AS i; '
               'IF FOUND THEN PERFORM pg_notify(%L, %L); END IF; RETURN NULL; END',
               tbl::oid, format('compressae: this is the queue trigger of %s alone', tbl), 'insufficient_privilege',
               attachment_id, pk, att.source_column, 'INSERT', att.code_column, 'compressae_sync_' || attachment_id, ''));
    IF (SELECT p.proowner FROM pg_proc p WHERE p.oid = format('%I.%I()', att.table_schema, name)::regprocedure) <> owner THEN
        EXECUTE format('ALTER FUNCTION %I.%I() OWNER TO %s', att.table_schema, name, owner);
    END IF;
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %I.%I() FROM PUBLIC', att.table_schema, name);
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name,
                   format('compressae: queues rows of %I for `compressae-pg sync` to encode into %I', att.source_column, att.code_column));
END
$$;

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

DO $$
DECLARE
    a    compressae.attachments;
    name text;
    tbl  regclass;
BEGIN
    FOR a IN SELECT t.* FROM compressae.attachments t
             WHERE t.sync IN ('trigger', 'queue')
               AND (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(format('%I.%I', t.table_schema, t.table_name))) IN ('r', 'p')
             ORDER BY t.id LOOP
        name := 'compressae_sync_' || a.id;
        tbl := format('%I.%I', a.table_schema, a.table_name)::regclass;
        IF a.sync = 'queue' THEN
            PERFORM compressae.write_sync_queue_function(a.id, true);
            EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE OF %I ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.%I()',
                           name, a.source_column, tbl,
                           format('NEW.%I IS NOT NULL', a.code_column)
                           || CASE WHEN a.sketch_column IS NULL THEN '' ELSE format(' OR NEW.%I IS NOT NULL', a.sketch_column) END,
                           a.table_schema, name);
        ELSE
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_insert', tbl);
            EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I()',
                           name, a.source_column, tbl, a.table_schema, name);
        END IF;
    END LOOP;
END
$$;
DROP FUNCTION compressae.write_row_triggers(bigint);
