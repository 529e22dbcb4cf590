-- How many rows wait for a code (sync_pending_rows: the rows sync_pending finds).
SELECT count(*)
FROM {table} AS t
WHERE {pending}
