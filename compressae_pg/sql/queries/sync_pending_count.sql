-- How many rows wait for a code (the count sync_pending would find, without the failed versions).
SELECT count(*)
FROM {table} AS t
WHERE t.{code} IS NULL AND t.{source} IS NOT NULL
  AND NOT EXISTS (SELECT FROM compressae.sync_failures f
                  WHERE f.attachment_id = {attachment} AND f.key = pg_catalog.format('%1$s', t.{key}) AND f.version = t.xmin)
