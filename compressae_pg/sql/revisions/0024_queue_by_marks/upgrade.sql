-- 0024: a sync queue without statement triggers (issue 26 item 7).
-- A queue attachment's AFTER INSERT and AFTER UPDATE statement triggers wrote every changed row's key to
-- compressae.sync_queue, and their transition tables held the whole rows: the application's COPY and UPDATE ran
-- at 0.5-0.8x a table without sync (benchmarks/sync.py). Once the attachment has its pending index, a partial
-- index of the rows whose code is NULL, the row triggers alone remain (they clear the code of a changed row, as
-- before), and the workers find those rows through the index. The index is built CONCURRENTLY, outside any
-- transaction, so this revision builds none: `compressae-pg sync`, and `attach`, build it and then call
-- compressae.use_pending_index. Until then an attachment keeps its statement triggers and queue, as in 0023.
-- A failure records the row version (xmin) that failed, so that a worker skips the row until it changes.

ALTER TABLE compressae.sync_failures ADD COLUMN version xid;
COMMENT ON COLUMN compressae.sync_failures.version IS
    'xmin of the row version that could not be encoded: a worker looking for rows without a code skips it until the row changes';

CREATE FUNCTION compressae.pending_indexes(attachment_id bigint, OUT index regclass, OUT valid boolean)
 RETURNS SETOF record
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att compressae.attachments;
BEGIN
    SELECT * INTO att FROM compressae.attachments a WHERE a.id = attachment_id AND a.sync = 'queue';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- A btree index of the primary key alone, partial on exactly "code IS NULL AND source IS NOT NULL" (as pg_get_expr
    -- spells it, with the columns' names of now). Only the table's owner can make one. An invalid one is what an
    -- interrupted CREATE INDEX CONCURRENTLY leaves.
    RETURN QUERY
    SELECT i.indexrelid::regclass, i.indisvalid AND i.indisready
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
    JOIN pg_index p ON p.indrelid = i.indrelid AND p.indisprimary AND p.indnkeyatts = 1
    JOIN pg_class c ON c.oid = i.indrelid AND c.relkind IN ('r', 'p')  -- none, the table dropped
    WHERE i.indrelid = att.table_oid AND i.indnatts = 1 AND i.indexprs IS NULL AND i.indkey[0] = p.indkey[0]
      AND pg_get_expr(i.indpred, i.indrelid) = format('((%I IS NULL) AND (%I IS NOT NULL))', att.code_column, att.source_column)
    ORDER BY i.indexrelid;
END
$function$;
COMMENT ON FUNCTION compressae.pending_indexes(bigint) IS
    'compressae: the partial indexes of a sync queue''s rows without a code, valid or left invalid by an interrupted build';

CREATE FUNCTION compressae.pending_index(attachment_id bigint)
 RETURNS regclass
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT p.index FROM compressae.pending_indexes(pending_index.attachment_id) p WHERE p.valid ORDER BY p.index::oid LIMIT 1
$function$;
COMMENT ON FUNCTION compressae.pending_index(bigint) IS
    'compressae: the valid partial index by which the workers of a sync queue find its rows without a code (NULL if none)';

CREATE FUNCTION compressae.pending_index_ddl(attachment_id bigint, OUT index_name name, OUT ddl text)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att compressae.attachments;
    t   record;
BEGIN
    SELECT * INTO att FROM compressae.attachments a WHERE a.id = attachment_id AND a.sync = 'queue';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    t := compressae.table_of(att);
    index_name := compressae.fit_name(t.tbl, att.code_column, '_pending', left(replace(gen_random_uuid()::text, '-', ''), 8), true);
    ddl := format('CREATE INDEX CONCURRENTLY %I ON %s (%I) WHERE %I IS NULL AND %I IS NOT NULL',
                  index_name, t.tbl, compressae.key_column(t.tbl), att.code_column, att.source_column);
END
$function$;
COMMENT ON FUNCTION compressae.pending_index_ddl(bigint) IS
    'compressae: the CREATE INDEX CONCURRENTLY of a sync queue''s pending index (compressae.pending_index)';

CREATE FUNCTION compressae.drop_unused_functions(fns regprocedure[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    FOR i IN 1 .. coalesce(array_length(fns, 1), 0) LOOP
        IF NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgfoid = fns[i]::oid) THEN
            EXECUTE format('DROP FUNCTION %s', fns[i]);
        END IF;
    END LOOP;
END
$function$;
COMMENT ON FUNCTION compressae.drop_unused_functions(regprocedure[]) IS
    'compressae: drops those of the given sync functions that no trigger calls any more';

CREATE FUNCTION compressae.use_pending_index(attachment_id bigint)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att    compressae.attachments;
    t      record;
    fns    record;
    before regprocedure[];
BEGIN
    SELECT * INTO att FROM compressae.attachments a WHERE a.id = attachment_id AND a.sync = 'queue';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    IF compressae.pending_index(attachment_id) IS NULL THEN
        RETURN false;
    END IF;
    t := compressae.table_of(att);
    before := ARRAY(SELECT compressae.sync_trigger_functions(t.tbl, attachment_id));
    fns := compressae.sync_functions(attachment_id);
    PERFORM compressae.write_row_triggers(attachment_id, fns.row_function, fns.queue_function);
    PERFORM compressae.drop_unused_functions(before);
    RETURN true;
END
$function$;
COMMENT ON FUNCTION compressae.use_pending_index(bigint) IS
    'compressae: once a sync queue''s pending index is valid, its row triggers alone (true); false while it has none';

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
    coded   text;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync IN ('trigger', 'queue');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by trigger or queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    t := compressae.table_of(att);
    -- IS DISTINCT FROM, spelled with pgvector's own <> (IS DISTINCT FROM cannot name an operator's schema).
    changed := format('(OLD.%1$I IS NULL) <> (NEW.%1$I IS NULL) OR OLD.%1$I OPERATOR(%2$I.<>) NEW.%1$I', att.source_column, vs);
    coded := format('NEW.%I IS NOT NULL', att.code_column)
             || CASE WHEN att.sketch_column IS NULL THEN '' ELSE format(' OR NEW.%I IS NOT NULL', att.sketch_column) END;
    IF att.sync = 'queue' THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW WHEN ((%s) AND (%s)) EXECUTE FUNCTION %I.%I()',
                       name, t.tbl, coded, changed, t.nsp, fn);
        IF compressae.pending_index(attachment_id) IS NOT NULL THEN
            -- Marks: a changed row's code is NULL, and the pending index finds it. An INSERT that brings codes of its
            -- own has them cleared, as the INSERT statement trigger queued every inserted row.
            EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.%I()',
                           name || '_insert', t.tbl, coded, t.nsp, fn);
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_update', t.tbl);
            RETURN;
        END IF;
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
        IF new_att.sync = 'queue' AND compressae.pending_index(new_att.id) IS NULL THEN
            PERFORM compressae.write_sync_queue_function(new_att.id, fns.queue_function, true);
        END IF;
        PERFORM compressae.write_row_triggers(new_att.id, fns.row_function, fns.queue_function);
        PERFORM compressae.drop_unused_functions(before);
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
        ('compressae.sync_failures', ARRAY['doomed', 'reason', 'at', 'version']),
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

-- Roles `db grant` made before: the new column's UPDATE, as grant_writes now gives.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT acl.grantee::regrole AS grantee
        FROM pg_attribute a, aclexplode(a.attacl) acl
        WHERE a.attrelid = 'compressae.sync_failures'::regclass AND a.attname = 'reason' AND acl.privilege_type = 'UPDATE'
          AND acl.grantee <> 0
    LOOP
        EXECUTE format('GRANT UPDATE (version) ON compressae.sync_failures TO %s', r.grantee);
    END LOOP;
END
$$;
