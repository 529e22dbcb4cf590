-- 0012: the sync queue's keys and triggers (issue 26, findings 10 and 11).
-- - Keys in a canonical form: the queue function (SECURITY DEFINER, as in 0009) writes its keys as text
--   under pinned DateStyle, IntervalStyle, TimeZone and extra_float_digits (SET clauses; the worker pins
--   the same, compressae_pg/_defaults.py QUEUE_KEY_SETTINGS), so that a date written under
--   `SQL, DMY` is not read as another day. Entries queued before were written in the writer's
--   settings: those of the default settings read as before.
-- - A key change made by the application's own BEFORE trigger is caught: the row triggers compare OLD
--   and NEW (IS DISTINCT FROM, by pgvector's <> operator) instead of `UPDATE OF <source>`, which sees only
--   the columns the statement names. PostgreSQL fires BEFORE triggers in name order: an application
--   trigger that sets the source is seen when its name sorts before compressae_sync_<id>.
--   The 'trigger' mode now has two row triggers: compressae_sync_<id>_insert (BEFORE INSERT) and
--   compressae_sync_<id> (BEFORE UPDATE WHEN the source changed), both on the one function.
-- Existing attachments get the new functions and triggers here (CREATE OR REPLACE: a short lock per table).
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
        'SET search_path = pg_catalog, pg_temp SET DateStyle = %L SET IntervalStyle = %L SET TimeZone = %L '
        'SET extra_float_digits = 1 AS %L',
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, att.table_schema, name, 'ISO, YMD', 'postgres', 'UTC',
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

-- An attachment's BEFORE row triggers on write_row_trigger_function's function (CREATE OR REPLACE TRIGGER:
-- an existing attachment's are replaced in place). An UPDATE fires them only when the source changed,
-- whichever statement or earlier trigger changed it; an UPDATE of other columns costs one comparison a row.
CREATE FUNCTION compressae.write_row_triggers(attachment_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att     compressae.attachments;
    name    text := 'compressae_sync_' || attachment_id;
    vs      name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
    tbl     regclass;
    changed text;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync IN ('trigger', 'queue');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by trigger or queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    tbl := format('%I.%I', att.table_schema, att.table_name)::regclass;
    -- IS DISTINCT FROM, spelled with pgvector's own <> (IS DISTINCT FROM cannot name an operator's schema).
    changed := format('(OLD.%1$I IS NULL) <> (NEW.%1$I IS NULL) OR OLD.%1$I OPERATOR(%2$I.<>) NEW.%1$I', att.source_column, vs);
    IF att.sync = 'queue' THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW WHEN ((%s) AND (%s)) EXECUTE FUNCTION %I.%I()',
                       name, tbl,
                       format('NEW.%I IS NOT NULL', att.code_column)
                       || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' OR NEW.%I IS NOT NULL', att.sketch_column) END,
                       changed, att.table_schema, name);
        RETURN;
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I()',
                   name || '_insert', tbl, att.table_schema, name);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.%I()',
                   name, tbl, changed, att.table_schema, name);
END
$$;

-- create_sync_trigger as in 0010, its row triggers written by write_row_triggers.
CREATE OR REPLACE FUNCTION compressae.create_sync_trigger(attachment_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att   compressae.attachments;
    name  text := 'compressae_sync_' || attachment_id;
    tbl   regclass;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    tbl := format('%I.%I', att.table_schema, att.table_name)::regclass;
    IF att.sync = 'queue' THEN
        PERFORM compressae.write_sync_queue_function(attachment_id, false);  -- first: it refuses a table without a key
    END IF;
    PERFORM compressae.write_row_trigger_function(attachment_id, false);
    PERFORM compressae.write_row_triggers(attachment_id);
    IF att.sync = 'queue' THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_insert', tbl, att.table_schema, name || '_queue');
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_update', tbl, att.table_schema, name || '_queue');
    END IF;
END
$$;

-- Existing attachments whose table is still a table (a view in a dropped table's place is left alone).
DO $$
DECLARE
    a compressae.attachments;
BEGIN
    FOR a IN SELECT t.* FROM compressae.attachments t
             WHERE t.sync IN ('trigger', 'queue')
               AND (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(format('%I.%I', t.table_schema, t.table_name))) IN ('r', 'p')
             ORDER BY t.id LOOP
        IF a.sync = 'queue' THEN
            PERFORM compressae.write_sync_queue_function(a.id, true);
        END IF;
        PERFORM compressae.write_row_triggers(a.id);
    END LOOP;
END
$$;
