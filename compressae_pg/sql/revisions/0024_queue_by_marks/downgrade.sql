-- 0024 undone: the functions of 0023, and every attachment that finds its rows by marks given its statement triggers and
-- queue function again, with the keys of the rows still without a code queued (of the tables the downgrading role
-- owns; a NOTICE names each other one, whose rows its owner's backfill codes). The pending indexes stay (a DROP INDEX
-- in this transaction would lock the tables); a NOTICE names each one, which `DROP INDEX CONCURRENTLY` removes.

CREATE OR REPLACE FUNCTION compressae.write_row_triggers(attachment_id bigint, fn name, queue_fn name)
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
                       changed, t.nsp, fn);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_insert', t.tbl, t.nsp, queue_fn);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s REFERENCING NEW TABLE AS compressae_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', name || '_update', t.tbl, t.nsp, queue_fn);
        RETURN;
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I()',
                   name || '_insert', t.tbl, t.nsp, fn);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.%I()',
                   name, t.tbl, changed, t.nsp, fn);
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
    fns      record;
    before   regprocedure[];
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
        -- In a table moved to another schema since the staging, the functions are written anew in the table's
        -- schema (sync_functions finds them there only), the triggers pointed at them, and the old ones dropped.
        before := ARRAY(SELECT compressae.sync_trigger_functions(tbl, new_att.id));
        fns := compressae.sync_functions(new_att.id);
        PERFORM compressae.write_row_trigger_function(new_att.id, fns.row_function, true);
        IF new_att.sync = 'queue' THEN
            PERFORM compressae.write_sync_queue_function(new_att.id, fns.queue_function, true);
        END IF;
        PERFORM compressae.write_row_triggers(new_att.id, fns.row_function, fns.queue_function);
        FOR i IN 1 .. coalesce(array_length(before, 1), 0) LOOP
            IF NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgfoid = before[i]::oid) THEN
                EXECUTE format('DROP FUNCTION %s', before[i]);
            END IF;
        END LOOP;
    END IF;
    RETURN new_att.id;
END
$function$;

CREATE OR REPLACE FUNCTION compressae.grant_writes(grantee regrole, train boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    w record;
BEGIN
    FOR w IN SELECT v.t::regclass AS t, v.cols FROM (VALUES
        ('compressae.attachments', ARRAY['doomed', 'code_column', 'index_name', 'graph', 'sketch_column', 'sketch_planes',
                                         'opclass', 'residual_column', 'residual_planes']),
        ('compressae.backfill_jobs', ARRAY['status', 'error', 'retries', 'horizon', 'started_at', 'updated_at', 'finished_at',
                                           'last_key', 'rows_done', 'rows_written', 'rows_skipped', 'batches']),
        ('compressae.backfill_xids', ARRAY['doomed']),
        ('compressae.sync_queue', ARRAY['doomed', 'attempts', 'keys']),
        ('compressae.sync_failures', ARRAY['doomed', 'reason', 'at']),
        ('compressae.atom_labels', ARRAY['table_oid', 'uses', 'mean_value', 'top_keys', 'top_values', 'top_texts',
                                         'text_column', 'rows_read', 'computed_at'])) AS v(t, cols) LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM %s', w.t, grantee);  -- column privileges go too
        EXECUTE format('GRANT UPDATE (%s) ON %s TO %s',
                       (SELECT string_agg(quote_ident(c), ', ') FROM unnest(w.cols) AS c), w.t, grantee);
    END LOOP;
    -- UPDATE (stages) stays: a table-level REVOKE of UPDATE would take it from a role granted --train before.
    EXECUTE format('REVOKE DELETE, TRUNCATE ON compressae.models, compressae.encoder_atoms, compressae.decoder_atoms FROM %s', grantee);
    IF train THEN
        EXECUTE format('GRANT UPDATE (stages, doomed) ON compressae.models TO %s', grantee);
    END IF;
END
$function$;

DO $$
DECLARE
    a   compressae.attachments;
    t   record;
    fns record;
    idx regclass;
BEGIN
    -- The keys' canonical text, as the queue functions write it (their SET clauses).
    PERFORM set_config('DateStyle', 'ISO, YMD', true);
    PERFORM set_config('IntervalStyle', 'postgres', true);
    PERFORM set_config('TimeZone', 'UTC', true);
    PERFORM set_config('extra_float_digits', '1', true);
    FOR a IN
        SELECT x.* FROM compressae.attachments x JOIN pg_class c ON c.oid = x.table_oid AND c.relkind IN ('r', 'p')
        WHERE x.sync = 'queue' AND NOT x.doomed
          AND NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'compressae_sync_' || x.id || '_update')
        ORDER BY x.id
    LOOP
        t := compressae.table_of(a);
        idx := compressae.pending_index(a.id);
        -- Reading a table runs code its owner chose (its index predicates are evaluated when a query on it is
        -- planned) with the reader's rights, which no SET ROLE contains: only the owner's own downgrade reads it.
        IF (SELECT c.relowner FROM pg_class c WHERE c.oid = t.tbl) <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE NOTICE 'compressae: % keeps its rows without a code uncoded (this role does not own it, so it does not read '
                         'it): run `compressae-pg backfill --table % --column %` as its owner', t.tbl, t.tbl, a.source_column;
        ELSE
            EXECUTE format(
                'INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, array_agg(s.k ORDER BY s.n) FROM ('
                'SELECT pg_catalog.format(%L, r.%I) AS k, row_number() OVER () AS n FROM %s r WHERE r.%I IS NULL AND r.%I IS NOT NULL'
                ') s GROUP BY (s.n - 1) / 1000',
                a.id, '%1$s', compressae.key_column(t.tbl), t.tbl, a.code_column, a.source_column);
        END IF;
        fns := compressae.sync_functions(a.id);
        PERFORM compressae.write_sync_queue_function(a.id, fns.queue_function, false);
        PERFORM compressae.write_row_triggers(a.id, fns.row_function, fns.queue_function);
        IF idx IS NOT NULL THEN
            RAISE NOTICE 'compressae: index % stays; 0023 does not use it (DROP INDEX CONCURRENTLY % removes it)', idx, idx;
        END IF;
    END LOOP;
END
$$;

DROP FUNCTION compressae.use_pending_index(bigint);
DROP FUNCTION compressae.drop_unused_functions(regprocedure[]);
DROP FUNCTION compressae.pending_index_ddl(bigint);
DROP FUNCTION compressae.pending_index(bigint);
DROP FUNCTION compressae.pending_indexes(bigint);
ALTER TABLE compressae.sync_failures DROP COLUMN version;
