-- 0005: a backfill range job of a partitioned table reads and writes one leaf partition, named here
-- (schema and name, as compressae.attachments names its table); NULL for a plain table's jobs.
-- A name a job row holds is only used when it is a leaf partition of the attachment's own table.
ALTER TABLE compressae.backfill_jobs
    ADD COLUMN part_schema text,
    ADD COLUMN part_name   text,
    ADD CONSTRAINT backfill_jobs_partition CHECK ((part_schema IS NULL) = (part_name IS NULL));
COMMENT ON COLUMN compressae.backfill_jobs.part_name IS 'range: the leaf partition the job fills (with part_schema), NULL = the whole table';
