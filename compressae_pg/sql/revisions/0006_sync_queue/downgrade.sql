-- Undo 0005: refused while an attachment syncs by queue (0004's functions know no such mode).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM compressae.attachments WHERE sync = 'queue') THEN
        RAISE EXCEPTION 'cannot downgrade below 0006_sync_queue while code columns sync by queue'
            USING HINT = 'detach them, or attach them again with --sync none or trigger, first';
    END IF;
END
$$;
DROP TABLE compressae.sync_failures;
DROP TABLE compressae.sync_queue;
ALTER TABLE compressae.attachments DROP CONSTRAINT attachments_sync_check;
ALTER TABLE compressae.attachments ADD CONSTRAINT attachments_sync_check CHECK (sync IN ('none', 'trigger'));
-- 0004's attach.sql is replayed after this file: it creates attach and fit_name (not OR REPLACE) and
-- begins by dropping 0003's five-argument attach, so that one is stood in for.
DROP FUNCTION compressae.attach(regclass, name, text, name, text, text);
DROP FUNCTION compressae.fit_name(regclass, text, text, text, boolean);
CREATE FUNCTION compressae.attach(regclass, name, text, name, text) RETURNS bigint LANGUAGE sql AS 'SELECT NULL::bigint';
