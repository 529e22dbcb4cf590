-- Claim rows whose code is NULL (0024: the pending index finds them), lowest keys first, skipping those another
-- worker or the application holds, and those whose current version failed before (a row that changes is tried
-- again). The locks last until the transaction that writes their codes ends. Keys in their canonical text.
SELECT pg_catalog.format('%1$s', t.{key}), t.xmin
FROM {table} AS t
WHERE t.{code} IS NULL AND t.{source} IS NOT NULL
  AND NOT EXISTS (SELECT FROM compressae.sync_failures f
                  WHERE f.attachment_id = {attachment} AND f.key = pg_catalog.format('%1$s', t.{key}) AND f.version = t.xmin)
ORDER BY t.{key}
LIMIT {limit}
FOR NO KEY UPDATE OF t SKIP LOCKED
