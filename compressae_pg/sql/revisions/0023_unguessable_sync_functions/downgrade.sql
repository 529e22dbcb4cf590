-- 0023 undone: the functions of 0022, and every attachment's sync functions renamed to the names 0022 finds them
-- by, where that name is free (a WARNING names each one left as it is, which 0022's detach does not drop).

DO $$
DECLARE
    r    record;
    wait text := current_setting('lock_timeout');
BEGIN
    -- Another role may hold a name in a transaction not yet committed: wait a little, then leave the function.
    PERFORM set_config('lock_timeout', '5s', true);
    FOR r IN
        SELECT p.oid::regprocedure AS fn, p.pronamespace,
               'compressae_sync_' || a.id || CASE WHEN g.tgname::text LIKE '%\_update' THEN '_queue' ELSE '' END AS legacy
        FROM compressae.attachments a
        JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
        JOIN pg_trigger g ON g.tgrelid = c.oid AND NOT g.tgisinternal
                         AND g.tgname IN ('compressae_sync_' || a.id, 'compressae_sync_' || a.id || '_update')
        JOIN pg_proc p ON p.oid = g.tgfoid AND p.pronamespace = c.relnamespace
        WHERE p.proname::text ~ ('^compressae_sync_' || a.id || '_[0-9a-f]{12}(_queue)?$')
        ORDER BY a.id, g.tgname
    LOOP
        BEGIN
            EXECUTE format('ALTER FUNCTION %s RENAME TO %I', r.fn, r.legacy);
        EXCEPTION WHEN unique_violation OR duplicate_function OR lock_not_available THEN
            RAISE WARNING 'compressae: sync function % keeps its name, since % is taken; 0022''s detach leaves it behind',
                r.fn, r.legacy;
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', wait, true);
END
$$;

DROP FUNCTION compressae.write_row_trigger_function(bigint, name, boolean);
DROP FUNCTION compressae.write_sync_queue_function(bigint, name, boolean);
DROP FUNCTION compressae.write_row_triggers(bigint, name, name);
DROP FUNCTION compressae.sync_functions(bigint);
DROP FUNCTION compressae.sync_trigger_functions(regclass, bigint);

CREATE OR REPLACE FUNCTION compressae.write_row_trigger_function(attachment_id bigint, or_replace boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att  compressae.attachments;
    ref  text;
    name text := 'compressae_sync_' || attachment_id;
    body text;
    nsp  name;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync IN ('trigger', 'queue');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by trigger or queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    SELECT t.nsp INTO nsp FROM compressae.table_of(att) t;
    SELECT m.name || '@' || m.version INTO ref FROM compressae.models m WHERE m.id = att.model_id;
    IF att.sync = 'queue' THEN
        body := format('NEW.%I := NULL;', att.code_column)
                || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' NEW.%I := NULL;', att.sketch_column) END
                || CASE WHEN att.residual_column IS NULL THEN '' ELSE format(' NEW.%I := NULL;', att.residual_column) END;
    ELSE
        body := format('NEW.%I := compressae.encode(%L, NEW.%I);', att.code_column, ref, att.source_column)
                || CASE WHEN att.sketch_column IS NULL THEN ''
                        ELSE format(' NEW.%I := CASE WHEN NEW.%I IS NULL THEN NULL ELSE compressae.sketch(NEW.%I, %s) END;',
                                    att.sketch_column, att.code_column, att.source_column, att.sketch_planes) END
                || CASE WHEN att.residual_column IS NULL THEN ''
                        ELSE format(' NEW.%I := compressae.residual(%L, NEW.%I, NEW.%I, %s);',
                                    att.residual_column, ref, att.source_column, att.code_column, att.residual_planes) END;
    END IF;
    EXECUTE format(
        'CREATE %s FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER '
        'SET search_path = pg_catalog, pg_temp AS %L',
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, nsp, name, 'BEGIN ' || body || ' RETURN NEW; END');
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', nsp, name,
                   CASE WHEN att.sync = 'queue'
                        THEN format('compressae: clears %I when %I changes (sync queue)', att.code_column, att.source_column)
                        ELSE format('compressae: keeps %I filled with %s codes of %I', att.code_column, ref, att.source_column) END);
END
$function$;

CREATE OR REPLACE FUNCTION compressae.write_sync_queue_function(attachment_id bigint, or_replace boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att   compressae.attachments;
    name  text := 'compressae_sync_' || attachment_id || '_queue';
    pk    name;
    tbl   regclass;
    owner regrole;
    nsp   name;
    rel   name;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync = 'queue';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    SELECT t.tbl, t.nsp, t.rel INTO tbl, nsp, rel FROM compressae.table_of(att) t;
    SELECT c.relowner::regrole INTO owner FROM pg_class c WHERE c.oid = tbl;
    SELECT a.attname INTO pk
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = tbl AND i.indisprimary AND i.indnkeyatts = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table %.% needs a single-column primary key to sync by queue', quote_ident(nsp), quote_ident(rel)
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
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, nsp, name, 'ISO, YMD', 'postgres', 'UTC',
        format('BEGIN IF NOT EXISTS (SELECT FROM compressae.attachments a WHERE a.id OPERATOR(pg_catalog.=) %s '
               'AND a.table_oid::oid OPERATOR(pg_catalog.=) TG_RELID) THEN RAISE EXCEPTION %L, TG_RELID::regclass USING ERRCODE = %L; END IF; '
               'INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, array_agg(s.k) FROM ('
               'SELECT n.%I::text AS k, (row_number() OVER () - 1) / 1000 AS piece FROM compressae_new n '
               'WHERE n.%I IS NOT NULL AND (TG_OP = %L OR n.%I IS NULL)) s GROUP BY s.piece ORDER BY s.piece; '
               'IF FOUND THEN PERFORM pg_notify(%L, %L); END IF; RETURN NULL; END',
               attachment_id, format('compressae: this is the queue trigger of attachment %s alone, not of %%', attachment_id), 'insufficient_privilege',
               attachment_id, pk, att.source_column, 'INSERT', att.code_column, 'compressae_sync_' || attachment_id, ''));
    IF (SELECT p.proowner FROM pg_proc p WHERE p.oid = format('%I.%I()', nsp, name)::regprocedure) <> owner THEN
        EXECUTE format('ALTER FUNCTION %I.%I() OWNER TO %s', nsp, name, owner);
    END IF;
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %I.%I() FROM PUBLIC', nsp, name);
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', nsp, name,
                   format('compressae: queues rows of %I for `compressae-pg sync` to encode into %I', att.source_column, att.code_column));
END
$function$;

CREATE OR REPLACE FUNCTION compressae.write_row_triggers(attachment_id bigint)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att     compressae.attachments;
    name    text := 'compressae_sync_' || attachment_id;
    vs      name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
    t       record;
    changed text;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync IN ('trigger', 'queue');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by trigger or queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    t := compressae.table_of(att);
    -- IS DISTINCT FROM, spelled with pgvector's own <> (IS DISTINCT FROM cannot name an operator's schema).
    changed := format('(OLD.%1$I IS NULL) <> (NEW.%1$I IS NULL) OR OLD.%1$I OPERATOR(%2$I.<>) NEW.%1$I', att.source_column, vs);
    IF att.sync = 'queue' THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW WHEN ((%s) AND (%s)) EXECUTE FUNCTION %I.%I()',
                       name, t.tbl,
                       format('NEW.%I IS NOT NULL', att.code_column)
                       || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' OR NEW.%I IS NOT NULL', att.sketch_column) END,
                       changed, t.nsp, name);
        RETURN;
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I()',
                   name || '_insert', t.tbl, t.nsp, name);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.%I()',
                   name, t.tbl, changed, t.nsp, name);
END
$function$;

CREATE OR REPLACE FUNCTION compressae.create_sync_trigger(attachment_id bigint)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att   compressae.attachments;
    name  text := 'compressae_sync_' || attachment_id;
    t     record;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    t := compressae.table_of(att);
    IF att.sync = 'queue' THEN
        PERFORM compressae.write_sync_queue_function(attachment_id, false);  -- first: it refuses a table without a key
    END IF;
    PERFORM compressae.write_row_trigger_function(attachment_id, false);
    PERFORM compressae.write_row_triggers(attachment_id);
    IF att.sync = 'queue' THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_insert', t.tbl, t.nsp, name || '_queue');
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_update', t.tbl, t.nsp, name || '_queue');
    END IF;
END
$function$;

CREATE OR REPLACE FUNCTION compressae.drop_sync_trigger(tbl regclass, attachment_id bigint)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION compressae.swap(tbl regclass, current_code name, staged_code name)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    old_att  compressae.attachments;
    new_att  compressae.attachments;
    sketch   name;
    residual name;
    nsp      name := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl);
BEGIN
    SELECT a.* INTO old_att FROM compressae.attachments a JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
    WHERE a.table_oid = tbl AND a.code_column = current_code;
    SELECT a.* INTO new_att FROM compressae.attachments a JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
    WHERE a.table_oid = tbl AND a.code_column = staged_code;
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
        WHERE i.indexrelid = to_regclass(format('%I.%I', nsp, new_att.index_name))) = tbl THEN
        EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', nsp, new_att.index_name, old_att.index_name);
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
$function$;
