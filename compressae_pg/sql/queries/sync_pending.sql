-- Rows whose code is NULL (0024: the pending index finds them), lowest keys first from the {skip}-th on, without those
-- whose current version failed before (a row that changes is tried again). No row lock: the write matches the exact
-- version read, so an application's UPDATE of a row being encoded never waits for the batch (the row, changed, stays
-- pending). Keys in their canonical text.
SELECT pg_catalog.format('%1$s', t.{key}), t.xmin
FROM {table} AS t
WHERE t.{code} IS NULL AND t.{source} IS NOT NULL
  AND NOT EXISTS (SELECT FROM compressae.sync_failures f
                  WHERE f.attachment_id = {attachment} AND f.key = pg_catalog.format('%1$s', t.{key}) AND f.version = t.xmin)
ORDER BY t.{key}
LIMIT {limit} OFFSET {skip}
