-- 0017: attachments by oid (issue 26, findings 6 and 14, and the review's F5).
-- An attachment named its table by schema and name, and so did every check of who owns it. After its owner
-- renamed the table, a role with `db grant` could create a table of the old name: it then passed the check,
-- could delete the owner's record (and with it the owner's queue entries), and the owner's own writes failed
-- the queue's row-level security, which found no table of that name. A table dropped without a detach left a
-- record that the next table of its name took for its own (another role's model shown on it, attach failing
-- on a unique violation), and a view in its place was read as the table.
-- Now the record keeps its table by oid (table_oid, a regclass: read as the table's current name, and
-- dumped and restored by name), and every check finds the table by that oid in pg_class, with
-- relkind IN ('r', 'p'): a renamed table keeps its attachment, a new table of the old name has none, and a
-- view or any other relation never matches. Jobs, checkpoints, queue entries, failures and labels follow
-- their attachment by its id, so the same oid keys them (compressae.may_work_on, compressae.labels_table).
-- A dropped table's record applies to no table; any role that may delete attachments may delete it (its
-- table has no owner left to ask), and attach deletes every such record first, so that an oid the server
-- hands out again never finds one.
ALTER TABLE compressae.attachments ADD COLUMN table_oid regclass;
-- An existing record is bound to the table of its name only where that is a table that still has the
-- record's code column: one left by a table dropped without a detach (its name now another table's, or a
-- view's) binds to nothing and is deleted, with its jobs, checkpoints, failures, labels and queue entries.
UPDATE compressae.attachments a SET table_oid = c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = a.table_schema AND c.relname = a.table_name AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_attribute t JOIN pg_type ty ON ty.oid = t.atttypid
              WHERE t.attrelid = c.oid AND t.attname = a.code_column AND t.attnum > 0 AND NOT t.attisdropped
                AND ty.typname = 'sparsevec');
DELETE FROM compressae.attachments WHERE table_oid IS NULL;

DROP POLICY attachments_insert ON compressae.attachments;
DROP POLICY attachments_update ON compressae.attachments;
DROP POLICY attachments_delete ON compressae.attachments;
DROP FUNCTION compressae.owns_table(text, text);
ALTER TABLE compressae.attachments DROP COLUMN table_schema, DROP COLUMN table_name;
ALTER TABLE compressae.attachments ALTER COLUMN table_oid SET NOT NULL;
ALTER TABLE compressae.attachments ADD CONSTRAINT attachments_table_oid_code_column_key UNIQUE (table_oid, code_column);
COMMENT ON COLUMN compressae.attachments.table_oid IS 'the attached table, by oid: it follows a rename, and a later table of the same name is another';

-- Whether the current role may act for the owner of the table tbl (false when tbl is not a table).
CREATE FUNCTION compressae.owns_table(tbl regclass)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE')
                     FROM pg_class c WHERE c.oid = owns_table.tbl AND c.relkind IN ('r', 'p')), false)
$$;

CREATE POLICY attachments_insert ON compressae.attachments FOR INSERT
    WITH CHECK (compressae.owns_table(table_oid));
CREATE POLICY attachments_update ON compressae.attachments FOR UPDATE
    USING (compressae.owns_table(table_oid))
    WITH CHECK (compressae.owns_table(table_oid));
CREATE POLICY attachments_delete ON compressae.attachments FOR DELETE
    USING (compressae.owns_table(table_oid)
           OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_oid AND c.relkind IN ('r', 'p')));

-- The table of an attachment as it is now: its oid, schema and name; an error when it was dropped.
CREATE FUNCTION compressae.table_of(att compressae.attachments, OUT tbl regclass, OUT nsp name, OUT rel name)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT c.oid, n.nspname, c.relname INTO tbl, nsp, rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = att.table_oid AND c.relkind IN ('r', 'p');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the table of attachment % (oid %) was dropped', att.id, att.table_oid::oid
            USING ERRCODE = 'undefined_table',
                  HINT = format('forget the record: DELETE FROM compressae.attachments WHERE id = %s', att.id);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION compressae.may_work_on(attachment_id bigint, privilege text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') OR has_table_privilege(c.oid, may_work_on.privilege)
                     FROM compressae.attachments a
                     JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
                     WHERE a.id = may_work_on.attachment_id), false)
$$;

CREATE OR REPLACE FUNCTION compressae.labels_table(attachment_id bigint)
RETURNS oid
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid
    FROM compressae.attachments a
    JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
    WHERE a.id = labels_table.attachment_id AND NOT c.relrowsecurity
$$;

CREATE OR REPLACE FUNCTION compressae.attachment_of(tbl regclass, column_name name)
RETURNS compressae.attachments
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att compressae.attachments;
BEGIN
    BEGIN
        SELECT a.* INTO STRICT att
        FROM compressae.attachments a JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
        WHERE a.table_oid = tbl AND a.source_column = column_name;
    EXCEPTION
        WHEN no_data_found THEN
            SELECT a.* INTO att
            FROM compressae.attachments a JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
            WHERE a.table_oid = tbl AND a.code_column = column_name;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no compressed code column is attached to column % of table %', quote_ident(column_name), tbl
                    USING ERRCODE = 'undefined_object', HINT = 'compressae-pg attach adds one';
            END IF;
        WHEN too_many_rows THEN
            RAISE EXCEPTION 'column % of table % has several code columns: name the code column instead', quote_ident(column_name), tbl
                USING ERRCODE = 'ambiguous_column';
    END;
    RETURN att;
END
$$;

CREATE OR REPLACE FUNCTION compressae.fit_name(tbl regclass, base text, suffix text, tag text, is_index boolean)
RETURNS name
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp  name := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl);
    want text := base || suffix;
    cut  text := base;
BEGIN
    IF octet_length(want) <= 63 AND NOT (
        CASE WHEN is_index
             THEN to_regclass(format('%I.%I', nsp, want)) IS NOT NULL
                  OR EXISTS (SELECT 1 FROM compressae.attachments a
                             JOIN pg_class c ON c.oid = a.table_oid JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = nsp AND a.index_name = want)
             ELSE EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = want AND attnum > 0 AND NOT attisdropped)
        END) THEN
        RETURN want;
    END IF;
    WHILE octet_length(cut) > 63 - octet_length('_' || tag || suffix) LOOP
        cut := left(cut, -1);
    END LOOP;
    RETURN (cut || '_' || tag || suffix)::name;
END
$$;
CREATE OR REPLACE FUNCTION compressae.attach(tbl regclass, source_column name, model text, code_column name DEFAULT NULL::name, sync text DEFAULT 'none'::text, graph text DEFAULT 'sketch'::text, residual_planes integer DEFAULT NULL::integer, sketch_planes integer DEFAULT 2)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    m        compressae.model_info;
    rel      record;
    src      record;
    code     name := coalesce(code_column, left(source_column || '_sae', 63)::name);
    sketch   name;
    residual name;
    planes   integer := coalesce(residual_planes, CASE WHEN graph = 'sparse' THEN 0 ELSE 2 END);
    att_id   bigint;
    vs       name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector');
BEGIN
    IF tbl IS NULL OR source_column IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'compressae.attach needs a table, a source column and a model'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF sync IS NULL OR sync NOT IN ('none', 'trigger', 'queue') THEN
        RAISE EXCEPTION 'sync must be none, trigger or queue, not %', quote_nullable(sync)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF graph IS NULL OR graph NOT IN ('sketch', 'sparse') THEN
        RAISE EXCEPTION 'graph must be sketch or sparse, not %', quote_nullable(graph)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF graph = 'sketch' AND (sketch_planes IS NULL OR sketch_planes NOT IN (1, 2)) THEN
        RAISE EXCEPTION 'sketch_planes must be 1 or 2, not %', quote_nullable(sketch_planes)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF planes NOT IN (0, 1, 2) THEN
        RAISE EXCEPTION 'residual_planes must be 0, 1 or 2, not %', planes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT n.nspname, c.relname INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    SELECT t.typname, a.atttypmod INTO src
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = tbl AND a.attname = source_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column % does not exist in table %', quote_ident(source_column), tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    IF src.typname NOT IN ('vector', 'halfvec') THEN
        RAISE EXCEPTION 'column %.% has type %; expected vector or halfvec', tbl, quote_ident(source_column), src.typname
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    m := compressae.resolve_model(model);
    IF src.atttypmod > 0 AND src.atttypmod <> m.dim THEN
        RAISE EXCEPTION 'column %.% holds %-dimensional vectors but model %@% expects %',
            tbl, quote_ident(source_column), src.atttypmod, m.name, m.version, m.dim
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = code AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column % already exists in table %', quote_ident(code), tbl
            USING ERRCODE = 'duplicate_column',
                  HINT = 'pass another code_column name';
    END IF;
    -- A dropped table's records apply to no table: forget them, so that an oid handed out again finds none.
    IF has_table_privilege('compressae.attachments', 'DELETE') THEN
        DELETE FROM compressae.attachments a
        WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.table_oid AND c.relkind IN ('r', 'p'));
    END IF;
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I %I.sparsevec(%s)', tbl, code, vs, m.h);
    INSERT INTO compressae.attachments (table_oid, source_column, code_column, model_id, sync, graph, opclass)
    VALUES (tbl, source_column, code, m.id, sync, 'sparse', 'sparsevec_cosine_ops')
    RETURNING id INTO att_id;
    IF graph = 'sketch' THEN
        sketch := compressae.fit_name(tbl, code, '_sketch', att_id::text, false);
        EXECUTE format('ALTER TABLE %s ADD COLUMN %I bit(%s)', tbl, sketch, sketch_planes * m.dim);
        UPDATE compressae.attachments a
        SET graph = 'sketch', sketch_column = sketch, sketch_planes = attach.sketch_planes, opclass = 'bit_hamming_ops'
        WHERE a.id = att_id;
    END IF;
    IF planes > 0 THEN
        residual := compressae.fit_name(tbl, code, '_residual', att_id::text, false);
        EXECUTE format('ALTER TABLE %s ADD COLUMN %I bit(%s)', tbl, residual, planes * m.dim + 32);
        UPDATE compressae.attachments a SET residual_column = residual, residual_planes = planes WHERE a.id = att_id;
    END IF;
    UPDATE compressae.attachments a
    SET index_name = compressae.fit_name(tbl, rel.relname || '_' || code, '_hnsw', att_id::text, true)
    WHERE a.id = att_id;
    IF sync IN ('trigger', 'queue') THEN
        PERFORM compressae.create_sync_trigger(att_id);
    END IF;
    RETURN att_id;
END
$function$
;

CREATE OR REPLACE FUNCTION compressae.detach(tbl regclass, code_column name)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att compressae.attachments;
BEGIN
    SELECT a.* INTO att FROM compressae.attachments a JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
    WHERE a.table_oid = tbl AND a.code_column = detach.code_column;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no compressed column % is attached to table %', quote_ident(code_column), tbl
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM compressae.drop_sync_trigger(tbl, att.id);
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, code_column);
    IF att.sketch_column IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', tbl, att.sketch_column);
    END IF;
    IF att.residual_column IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', tbl, att.residual_column);
    END IF;
    DELETE FROM compressae.sync_queue WHERE attachment_id = att.id;
    DELETE FROM compressae.attachments WHERE id = att.id;
END
$function$
;

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
$function$
;

CREATE OR REPLACE FUNCTION compressae.index_ddl(attachment_id bigint, concurrent boolean DEFAULT false, m integer DEFAULT 16, ef_construction integer DEFAULT 64)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    att    compressae.attachments;
    col    name;
    ops    record;
    t      record;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    IF m NOT BETWEEN 2 AND 100 OR ef_construction NOT BETWEEN 4 AND 1000 OR ef_construction < 2 * m THEN
        RAISE EXCEPTION 'HNSW needs 2 <= m <= 100 and 2m <= ef_construction <= 1000 (got m=%, ef_construction=%)', m, ef_construction
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    t := compressae.table_of(att);
    col := CASE att.graph WHEN 'sketch' THEN att.sketch_column ELSE att.code_column END;
    SELECT n.nspname, oc.opcname INTO ops
    FROM pg_opclass oc
    JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hnsw'
    JOIN pg_namespace n ON n.oid = oc.opcnamespace
    JOIN pg_attribute a ON a.attrelid = t.tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
    WHERE oc.opcname = att.opclass AND oc.opcintype = a.atttypid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'operator class % is not an hnsw operator class for column %.%.%',
            quote_literal(att.opclass), quote_ident(t.nsp), quote_ident(t.rel), quote_ident(col)
            USING ERRCODE = 'undefined_object';
    END IF;
    IF to_regclass(format('%I.%I', t.nsp, att.index_name)) IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_index i WHERE i.indexrelid = to_regclass(format('%I.%I', t.nsp, att.index_name))
                                   AND i.indrelid = t.tbl) THEN
        RAISE EXCEPTION 'index name %.% is taken by a relation that is not an index of %.%',
            quote_ident(t.nsp), quote_ident(att.index_name), quote_ident(t.nsp), quote_ident(t.rel)
            USING ERRCODE = 'duplicate_object';
    END IF;
    RETURN format(
        'CREATE INDEX %s IF NOT EXISTS %I ON %I.%I USING hnsw (%I %I.%I) WITH (m = %s, ef_construction = %s)',
        CASE WHEN concurrent THEN 'CONCURRENTLY' ELSE '' END,
        att.index_name, t.nsp, t.rel, col, ops.nspname, ops.opcname, m, ef_construction
    );
END
$function$
;

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
$function$
;

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
$function$
;

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
$function$
;

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
        format('BEGIN IF TG_RELID <> %s::oid THEN RAISE EXCEPTION %L USING ERRCODE = %L; END IF; '
               'INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, array_agg(s.k) FROM ('
               'SELECT n.%I::text AS k, (row_number() OVER () - 1) / 1000 AS piece FROM compressae_new n '
               'WHERE n.%I IS NOT NULL AND (TG_OP = %L OR n.%I IS NULL)) s GROUP BY s.piece ORDER BY s.piece; '
               'IF FOUND THEN PERFORM pg_notify(%L, %L); END IF; RETURN NULL; END',
               tbl::oid, format('compressae: this is the queue trigger of %s alone', tbl), 'insufficient_privilege',
               attachment_id, pk, att.source_column, 'INSERT', att.code_column, 'compressae_sync_' || attachment_id, ''));
    IF (SELECT p.proowner FROM pg_proc p WHERE p.oid = format('%I.%I()', nsp, name)::regprocedure) <> owner THEN
        EXECUTE format('ALTER FUNCTION %I.%I() OWNER TO %s', nsp, name, owner);
    END IF;
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %I.%I() FROM PUBLIC', nsp, name);
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', nsp, name,
                   format('compressae: queues rows of %I for `compressae-pg sync` to encode into %I', att.source_column, att.code_column));
END
$function$
;
