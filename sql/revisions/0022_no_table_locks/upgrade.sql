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
            DELETE FROM compressae.attachments t USING doomed_rows d WHERE d.doomed AND t.id OPERATOR(pg_catalog.=) d.id;
        WHEN 'compressae.models'::regclass THEN
            DELETE FROM compressae.models t USING doomed_rows d WHERE d.doomed AND t.id OPERATOR(pg_catalog.=) d.id;
        WHEN 'compressae.backfill_xids'::regclass THEN
            DELETE FROM compressae.backfill_xids t USING doomed_rows d
            WHERE d.doomed AND t.attachment_id OPERATOR(pg_catalog.=) d.attachment_id AND t.xid OPERATOR(pg_catalog.=) d.xid;
        WHEN 'compressae.sync_queue'::regclass THEN
            DELETE FROM compressae.sync_queue t USING doomed_rows d
            WHERE d.doomed AND t.attachment_id OPERATOR(pg_catalog.=) d.attachment_id AND t.id OPERATOR(pg_catalog.=) d.id;
        WHEN 'compressae.sync_failures'::regclass THEN
            DELETE FROM compressae.sync_failures t USING doomed_rows d
            WHERE d.doomed AND t.attachment_id OPERATOR(pg_catalog.=) d.attachment_id AND t.key OPERATOR(pg_catalog.=) d.key;
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

-- What `db grant` gives a role on the package's tables beyond SELECT and INSERT: UPDATE of each column of the
-- tables it writes, and (train) of a model's stages and mark; it takes back what a grant of an older release gave.
CREATE FUNCTION compressae.grant_writes(grantee regrole, train boolean)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t      regclass;
    writes regclass[] := ARRAY['compressae.attachments', 'compressae.backfill_jobs', 'compressae.backfill_xids',
                               'compressae.sync_queue', 'compressae.sync_failures', 'compressae.atom_labels']::regclass[];
BEGIN
    FOREACH t IN ARRAY writes LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM %s', t, grantee);  -- column privileges go too
        EXECUTE format('GRANT UPDATE (%s) ON %s TO %s',
                       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped), t, grantee);
    END LOOP;
    -- UPDATE (stages) stays: a table-level REVOKE of UPDATE would take it from a role granted --train before.
    EXECUTE format('REVOKE DELETE, TRUNCATE ON compressae.models, compressae.encoder_atoms, compressae.decoder_atoms FROM %s', grantee);
    IF train THEN
        EXECUTE format('GRANT UPDATE (stages, doomed) ON compressae.models TO %s', grantee);
    END IF;
END
$$;

-- Roles granted before: the same rights, without the table-level ones.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole AS grantee,
                    pg_catalog.has_table_privilege(a.grantee, 'compressae.models', 'INSERT') AS train
             FROM pg_class c, pg_catalog.aclexplode(c.relacl) a
             WHERE c.relnamespace = 'compressae'::regnamespace AND c.relkind = 'r' AND a.grantee <> c.relowner AND a.grantee <> 0
               AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
             ORDER BY 1 LOOP
        PERFORM compressae.grant_writes(r.grantee, r.train);
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
SELECT pg_temp.rewrite('compressae.attach(regclass, name, text, name, text, text, integer, integer)',
    E'    IF has_table_privilege(''compressae.attachments'', ''DELETE'') THEN\n        DELETE FROM compressae.attachments a\n        WHERE NOT EXISTS',
    E'    IF has_column_privilege(''compressae.attachments'', ''doomed'', ''UPDATE'') THEN\n        UPDATE compressae.attachments a SET doomed = true\n        WHERE NOT EXISTS');
SELECT pg_temp.rewrite('compressae.detach(regclass, name)',
    E'    DELETE FROM compressae.sync_queue WHERE attachment_id = att.id;\n    DELETE FROM compressae.attachments WHERE id = att.id;',
    E'    UPDATE compressae.sync_queue SET doomed = true WHERE attachment_id = att.id;\n    UPDATE compressae.attachments SET doomed = true WHERE id = att.id;');
SELECT pg_temp.rewrite('compressae.table_of(compressae.attachments)',
    'forget the record: DELETE FROM compressae.attachments WHERE id = %s',
    'forget the record: UPDATE compressae.attachments SET doomed = true WHERE id = %s');
DROP FUNCTION pg_temp.rewrite(regprocedure, text, text);
