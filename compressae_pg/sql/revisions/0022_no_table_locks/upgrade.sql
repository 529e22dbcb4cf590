-- 0022: no role that `db grant` made holds table-level UPDATE, DELETE or TRUNCATE on the package's tables (the second
-- review's M1). Any of them lets a role take every lock mode, so one granted role's `LOCK TABLE compressae.sync_queue
-- IN SHARE MODE` in an open transaction stalled every other role's writes and searches. With SELECT, INSERT and
-- column-level UPDATE a role takes ROW EXCLUSIVE at most, which blocks no one's reads or writes.
-- A role now deletes a row by marking it: `UPDATE ... SET doomed = true`, which row-level security checks as it
-- checked the DELETE, and a trigger the schema's owner owns deletes the marked rows at the end of the statement.
-- The package deletes from five tables; the rest go by their foreign keys' cascades, which run as the table's owner.

ALTER TABLE compressae.attachments ADD COLUMN doomed boolean NOT NULL DEFAULT false;
ALTER TABLE compressae.models ADD COLUMN doomed boolean NOT NULL DEFAULT false;
ALTER TABLE compressae.backfill_xids ADD COLUMN doomed boolean NOT NULL DEFAULT false;
ALTER TABLE compressae.sync_queue ADD COLUMN doomed boolean NOT NULL DEFAULT false;
ALTER TABLE compressae.sync_failures ADD COLUMN doomed boolean NOT NULL DEFAULT false;

CREATE FUNCTION compressae.delete_doomed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE TG_RELID
        WHEN 'compressae.attachments'::regclass THEN
            DELETE FROM compressae.attachments t USING doomed_rows d WHERE d.doomed AND t.doomed AND t.id OPERATOR(pg_catalog.=) d.id;
        WHEN 'compressae.models'::regclass THEN
            DELETE FROM compressae.models t USING doomed_rows d WHERE d.doomed AND t.doomed AND t.id OPERATOR(pg_catalog.=) d.id;
        WHEN 'compressae.backfill_xids'::regclass THEN
            DELETE FROM compressae.backfill_xids t USING doomed_rows d
            WHERE d.doomed AND t.doomed AND t.attachment_id OPERATOR(pg_catalog.=) d.attachment_id AND t.xid OPERATOR(pg_catalog.=) d.xid;
        WHEN 'compressae.sync_queue'::regclass THEN
            DELETE FROM compressae.sync_queue t USING doomed_rows d
            WHERE d.doomed AND t.doomed AND t.attachment_id OPERATOR(pg_catalog.=) d.attachment_id AND t.id OPERATOR(pg_catalog.=) d.id;
        WHEN 'compressae.sync_failures'::regclass THEN
            DELETE FROM compressae.sync_failures t USING doomed_rows d
            WHERE d.doomed AND t.doomed AND t.attachment_id OPERATOR(pg_catalog.=) d.attachment_id AND t.key OPERATOR(pg_catalog.=) d.key;
        ELSE
            RAISE EXCEPTION 'compressae.delete_doomed is a trigger of the compressae schema''s own tables alone'
                USING ERRCODE = 'insufficient_privilege';
    END CASE;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION compressae.delete_doomed() FROM PUBLIC;

CREATE TRIGGER delete_doomed AFTER UPDATE ON compressae.attachments
    REFERENCING NEW TABLE AS doomed_rows FOR EACH STATEMENT EXECUTE FUNCTION compressae.delete_doomed();
CREATE TRIGGER delete_doomed AFTER UPDATE ON compressae.models
    REFERENCING NEW TABLE AS doomed_rows FOR EACH STATEMENT EXECUTE FUNCTION compressae.delete_doomed();
CREATE TRIGGER delete_doomed AFTER UPDATE ON compressae.backfill_xids
    REFERENCING NEW TABLE AS doomed_rows FOR EACH STATEMENT EXECUTE FUNCTION compressae.delete_doomed();
CREATE TRIGGER delete_doomed AFTER UPDATE ON compressae.sync_queue
    REFERENCING NEW TABLE AS doomed_rows FOR EACH STATEMENT EXECUTE FUNCTION compressae.delete_doomed();
CREATE TRIGGER delete_doomed AFTER UPDATE ON compressae.sync_failures
    REFERENCING NEW TABLE AS doomed_rows FOR EACH STATEMENT EXECUTE FUNCTION compressae.delete_doomed();

-- Marking a record deleted is an UPDATE: a dropped table's record, which any role could delete, any role may mark.
DROP POLICY attachments_update ON compressae.attachments;
CREATE POLICY attachments_update ON compressae.attachments FOR UPDATE
    USING (compressae.owns_table(table_oid)
           OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_oid AND c.relkind IN ('r', 'p')))
    WITH CHECK (compressae.owns_table(table_oid)
                OR doomed AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_oid AND c.relkind IN ('r', 'p')));

-- What `db grant` gives a role on the package's tables beyond SELECT and INSERT: UPDATE of the columns the package's
-- own statements update, and (train) of a model's stages and mark; it takes back what a grant of an older release gave.
-- No other column: a role that could change an attachment's table_oid could point a dropped table's record at a
-- table of its own and read what the record's queue, failures and labels kept of the dropped table.
CREATE FUNCTION compressae.grant_writes(grantee regrole, train boolean)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
REVOKE EXECUTE ON FUNCTION compressae.grant_writes(regrole, boolean) FROM PUBLIC;

-- A row is written live: one inserted marked would stay until any later UPDATE of it, a worker's or a DBA's, deleted it.
CREATE POLICY attachments_insert_live ON compressae.attachments AS RESTRICTIVE FOR INSERT WITH CHECK (NOT doomed);
CREATE POLICY models_insert_live ON compressae.models AS RESTRICTIVE FOR INSERT WITH CHECK (NOT doomed);
CREATE POLICY backfill_xids_insert_live ON compressae.backfill_xids AS RESTRICTIVE FOR INSERT WITH CHECK (NOT doomed);
CREATE POLICY sync_queue_insert_live ON compressae.sync_queue AS RESTRICTIVE FOR INSERT WITH CHECK (NOT doomed);
CREATE POLICY sync_failures_insert_live ON compressae.sync_failures AS RESTRICTIVE FOR INSERT WITH CHECK (NOT doomed);

-- Roles that 0021's `db grant` made (table-level DELETE of the attachments; --train: INSERT of models): the same
-- rights, without the table-level ones. A table-level right a DBA granted by hand is the DBA's: it stays, and is named.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT a.grantee::regrole AS grantee,
                    EXISTS (SELECT 1 FROM pg_class m, pg_catalog.aclexplode(m.relacl) x
                            WHERE m.oid = 'compressae.models'::regclass AND x.grantee = a.grantee AND x.privilege_type = 'INSERT') AS train
             FROM pg_class c, pg_catalog.aclexplode(c.relacl) a
             WHERE c.oid = 'compressae.attachments'::regclass AND a.grantee <> c.relowner AND a.grantee <> 0
               AND a.privilege_type = 'DELETE'
             ORDER BY 1 LOOP
        PERFORM compressae.grant_writes(r.grantee, r.train);
    END LOOP;
    FOR r IN SELECT a.grantee::regrole AS grantee, string_agg(DISTINCT a.privilege_type || ' ON ' || c.oid::regclass::text, ', ') AS rights
             FROM pg_class c, pg_catalog.aclexplode(c.relacl) a
             WHERE c.relnamespace = 'compressae'::regnamespace AND c.relkind = 'r' AND a.grantee <> c.relowner AND a.grantee <> 0
               AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
             GROUP BY 1 ORDER BY 1 LOOP
        RAISE WARNING 'role % holds table-level % and so can lock those tables against every role', r.grantee, r.rights
            USING HINT = 'compressae-pg db grant gives what the package needs without table-level rights';
    END LOOP;
END
$$;

-- The package's own deletes, in its functions, become marks.
CREATE FUNCTION pg_temp.rewrite(fn regprocedure, old text, new text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    def text := pg_catalog.pg_get_functiondef(fn);
BEGIN
    IF pg_catalog.strpos(def, old) = 0 THEN
        RAISE EXCEPTION 'function % has no text %', fn, old;
    END IF;
    EXECUTE pg_catalog.replace(def, old, new);
END
$$;
-- attach marks the records of dropped tables that no other transaction holds: a role that holds one would stall it.
SELECT pg_temp.rewrite('compressae.attach(regclass, name, text, name, text, text, integer, integer)',
    E'    IF has_table_privilege(''compressae.attachments'', ''DELETE'') THEN\n        DELETE FROM compressae.attachments a\n        WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.table_oid AND c.relkind IN (''r'', ''p''));',
    E'    IF has_column_privilege(''compressae.attachments'', ''doomed'', ''UPDATE'') THEN\n        UPDATE compressae.attachments a SET doomed = true\n        WHERE a.id IN (SELECT g.id FROM compressae.attachments g\n                       WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = g.table_oid AND c.relkind IN (''r'', ''p''))\n                       FOR UPDATE SKIP LOCKED);');
SELECT pg_temp.rewrite('compressae.detach(regclass, name)',
    E'    DELETE FROM compressae.sync_queue WHERE attachment_id = att.id;\n    DELETE FROM compressae.attachments WHERE id = att.id;',
    E'    UPDATE compressae.sync_queue SET doomed = true WHERE attachment_id = att.id;\n    UPDATE compressae.attachments SET doomed = true WHERE id = att.id;');
SELECT pg_temp.rewrite('compressae.table_of(compressae.attachments)',
    'forget the record: DELETE FROM compressae.attachments WHERE id = %s',
    'forget the record: UPDATE compressae.attachments SET doomed = true WHERE id = %s');
DROP FUNCTION pg_temp.rewrite(regprocedure, text, text);
