-- How many rows wait for a code (sync_pending_rows: the rows sync_pending finds), up to {limit} (ALL: every one).
SELECT count(*)
FROM (SELECT FROM {table} AS t WHERE {pending} LIMIT {limit}) AS p
