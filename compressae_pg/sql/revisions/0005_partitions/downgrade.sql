-- Back to 0004: backfill jobs cover the whole table again.
ALTER TABLE compressae.backfill_jobs
    DROP CONSTRAINT backfill_jobs_partition,
    DROP COLUMN part_name,
    DROP COLUMN part_schema;
