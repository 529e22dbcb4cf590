-- After 0006's create_sync_trigger is back: rewrite each queue attachment's queue function with
-- 0006's body, in place (0006 creates it with CREATE FUNCTION, so the one there is dropped first;
-- its triggers are dropped with it and made again, as 0006 made them).
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT id, table_schema, table_name FROM compressae.attachments WHERE sync = 'queue' ORDER BY id LOOP
        PERFORM compressae.drop_sync_trigger(format('%I.%I', a.table_schema, a.table_name)::regclass, a.id);
        PERFORM compressae.create_sync_trigger(a.id);
    END LOOP;
END
$$;
