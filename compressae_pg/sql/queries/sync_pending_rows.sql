-- The condition of a row whose code a worker has to write (0024: the pending index finds them): no code, a source,
-- and not a version that failed before (a row that changes is tried again). A fragment of sync_pending and
-- sync_pending_count, on the table as t; keys compared in their canonical text.
t.{code} IS NULL AND t.{source} IS NOT NULL
  AND NOT EXISTS (SELECT FROM compressae.sync_failures f
                  WHERE f.attachment_id = {attachment} AND f.key = pg_catalog.format('%1$s', t.{key}) AND f.version = t.xmin)
