DROP TABLE compressae.backfill_xids;
DROP TABLE compressae.backfill_jobs;
DROP SEQUENCE compressae.backfill_runs;
DROP TABLE compressae.attachments;
DROP VIEW compressae.atoms;
DROP TABLE compressae.decoder_atoms;
DROP TABLE compressae.encoder_atoms;
DROP VIEW compressae.model_info;
DROP TABLE compressae.models;
-- The schema goes too unless something else lives in it (the standalone version table does).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'compressae') THEN
        DROP SCHEMA compressae;
    END IF;
END
$$;
