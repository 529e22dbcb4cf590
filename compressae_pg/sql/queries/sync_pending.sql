-- Rows a worker has to encode (sync_pending_rows), lowest keys first from the {skip}-th on. No row lock: the write
-- matches the exact version read, so an application's UPDATE of a row being encoded never waits for the batch (the
-- row, changed, stays pending). Keys in their canonical text.
SELECT pg_catalog.format('%1$s', t.{key}), t.xmin
FROM {table} AS t
WHERE {pending}
ORDER BY t.{key}
LIMIT {limit} OFFSET {skip}
