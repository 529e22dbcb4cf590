-- Undo 0009, second part (after downgrade_functions.sql): the policies, the models' owner, the helper
-- functions and the queue's check go; PUBLIC may append to the queue again; the queue functions of
-- existing attachments are rewritten by 0007's write_sync_queue_function (SECURITY INVOKER).
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT policyname, tablename FROM pg_policies
             WHERE schemaname = 'compressae' AND tablename IN ('models', 'encoder_atoms', 'decoder_atoms', 'backfill_jobs',
                                                               'backfill_xids', 'sync_queue', 'sync_failures') LOOP
        EXECUTE format('DROP POLICY %I ON compressae.%I', p.policyname, p.tablename);
        EXECUTE format('ALTER TABLE compressae.%I DISABLE ROW LEVEL SECURITY', p.tablename);
    END LOOP;
    FOR p IN SELECT DISTINCT grantee FROM information_schema.column_privileges
             WHERE table_schema = 'compressae' AND table_name = 'models' AND column_name = 'stages' AND privilege_type = 'UPDATE'
               AND CASE WHEN grantee = 'PUBLIC' THEN false
                        ELSE NOT pg_has_role(grantee, (SELECT relowner FROM pg_class WHERE oid = 'compressae.models'::regclass), 'USAGE') END LOOP
        EXECUTE format('REVOKE UPDATE (stages) ON compressae.models FROM %I', p.grantee);
    END LOOP;
END
$$;
DROP FUNCTION compressae.may_work_on(bigint, text);
DROP FUNCTION compressae.may_change_model(bigint);
DROP FUNCTION compressae.owns_model_name(text);
DROP FUNCTION compressae.acts_for(regrole);
ALTER TABLE compressae.models DROP COLUMN owner;
ALTER TABLE compressae.sync_queue DROP CONSTRAINT sync_queue_keys_check;
GRANT INSERT ON compressae.sync_queue TO PUBLIC;
DO $$
DECLARE
    a bigint;
BEGIN
    FOR a IN SELECT id FROM compressae.attachments WHERE sync = 'queue' ORDER BY id LOOP
        PERFORM compressae.write_sync_queue_function(a, true);
    END LOOP;
END
$$;
