-- After a standalone downgrade to base: the version table is empty, so drop it and then the schema,
-- unless something not made by the history still lives there (then the schema is left as it is).
DO $$
BEGIN
    IF to_regclass('compressae.compressae_alembic_version') IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM compressae.compressae_alembic_version) THEN
        DROP TABLE compressae.compressae_alembic_version;
        IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'compressae')
           AND NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'compressae')
           AND NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'compressae') THEN
            DROP SCHEMA compressae;
        END IF;
    END IF;
END
$$;
