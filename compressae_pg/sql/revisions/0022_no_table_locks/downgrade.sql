-- Undoes 0022: deletes are DELETEs again, and the roles it converted hold table-level UPDATE and DELETE again, as
-- `db grant` of 0021 gave them.

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
SELECT pg_temp.rewrite('compressae.attach(regclass, name, text, name, text, text, integer, integer)',
    E'    IF has_column_privilege(''compressae.attachments'', ''doomed'', ''UPDATE'') THEN\n        UPDATE compressae.attachments a SET doomed = true\n        WHERE a.id IN (SELECT g.id FROM compressae.attachments g\n                       WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = g.table_oid AND c.relkind IN (''r'', ''p''))\n                       FOR UPDATE SKIP LOCKED);',
    E'    IF has_table_privilege(''compressae.attachments'', ''DELETE'') THEN\n        DELETE FROM compressae.attachments a\n        WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.table_oid AND c.relkind IN (''r'', ''p''));');
SELECT pg_temp.rewrite('compressae.detach(regclass, name)',
    E'    UPDATE compressae.sync_queue SET doomed = true WHERE attachment_id = att.id;\n    UPDATE compressae.attachments SET doomed = true WHERE id = att.id;',
    E'    DELETE FROM compressae.sync_queue WHERE attachment_id = att.id;\n    DELETE FROM compressae.attachments WHERE id = att.id;');
SELECT pg_temp.rewrite('compressae.table_of(compressae.attachments)',
    'forget the record: UPDATE compressae.attachments SET doomed = true WHERE id = %s',
    'forget the record: DELETE FROM compressae.attachments WHERE id = %s');
DROP FUNCTION pg_temp.rewrite(regprocedure, text, text);

-- The roles 0022 (or `db grant` since) gave column-level UPDATE: 0021's table-level rights.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole AS grantee,
                    EXISTS (SELECT 1 FROM pg_attribute m, pg_catalog.aclexplode(m.attacl) x
                            WHERE m.attrelid = 'compressae.models'::regclass AND m.attname = 'doomed'
                              AND x.grantee = a.grantee AND x.privilege_type = 'UPDATE') AS train
             FROM pg_attribute t, pg_catalog.aclexplode(t.attacl) a
             WHERE t.attrelid = 'compressae.sync_queue'::regclass AND t.attname = 'doomed' AND a.privilege_type = 'UPDATE'
             ORDER BY 1 LOOP
        EXECUTE format('REVOKE UPDATE ON compressae.attachments, compressae.backfill_jobs, compressae.backfill_xids, '
                       'compressae.sync_queue, compressae.sync_failures, compressae.atom_labels FROM %s', r.grantee);  -- and its columns'
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON compressae.attachments, compressae.backfill_jobs, '
                       'compressae.backfill_xids, compressae.sync_queue, compressae.sync_failures TO %s', r.grantee);
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON compressae.atom_labels TO %s', r.grantee);
        IF r.train THEN
            EXECUTE format('GRANT INSERT, DELETE ON compressae.models, compressae.encoder_atoms, compressae.decoder_atoms TO %s', r.grantee);
        END IF;
    END LOOP;
END
$$;
DROP FUNCTION compressae.grant_writes(regrole, boolean);

DROP POLICY attachments_insert_live ON compressae.attachments;
DROP POLICY models_insert_live ON compressae.models;
DROP POLICY backfill_xids_insert_live ON compressae.backfill_xids;
DROP POLICY sync_queue_insert_live ON compressae.sync_queue;
DROP POLICY sync_failures_insert_live ON compressae.sync_failures;

DROP POLICY attachments_update ON compressae.attachments;
CREATE POLICY attachments_update ON compressae.attachments FOR UPDATE
    USING (compressae.owns_table(table_oid))
    WITH CHECK (compressae.owns_table(table_oid));

-- A row left marked (the trigger deletes each as it is marked: only one written by hand) would be live again.
DELETE FROM compressae.sync_queue WHERE doomed;
DELETE FROM compressae.sync_failures WHERE doomed;
DELETE FROM compressae.backfill_xids WHERE doomed;
DELETE FROM compressae.attachments WHERE doomed;
DELETE FROM compressae.models WHERE doomed;

DROP TRIGGER delete_doomed ON compressae.attachments;
DROP TRIGGER delete_doomed ON compressae.models;
DROP TRIGGER delete_doomed ON compressae.backfill_xids;
DROP TRIGGER delete_doomed ON compressae.sync_queue;
DROP TRIGGER delete_doomed ON compressae.sync_failures;
DROP FUNCTION compressae.delete_doomed();

ALTER TABLE compressae.attachments DROP COLUMN doomed;
ALTER TABLE compressae.models DROP COLUMN doomed;
ALTER TABLE compressae.backfill_xids DROP COLUMN doomed;
ALTER TABLE compressae.sync_queue DROP COLUMN doomed;
ALTER TABLE compressae.sync_failures DROP COLUMN doomed;
