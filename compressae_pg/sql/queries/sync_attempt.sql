-- A batch failed on something other than a lock or statement timeout: count it against its entries.
-- An entry that has failed max_attempts batches is moved, key by key, to the failures, so it never
-- blocks the queue. (The two branches touch disjoint rows: one statement must not change a row twice.)
WITH given_up AS (
    UPDATE compressae.sync_queue SET doomed = true
    WHERE attachment_id = %(attachment)s AND id = ANY (%(ids)s::bigint[]) AND attempts + 1 >= %(max_attempts)s
    RETURNING keys
), bumped AS (
    UPDATE compressae.sync_queue
    SET attempts = attempts + 1
    WHERE attachment_id = %(attachment)s AND id = ANY (%(ids)s::bigint[]) AND attempts + 1 < %(max_attempts)s
)
INSERT INTO compressae.sync_failures (attachment_id, key, reason)
SELECT DISTINCT %(attachment)s, k, %(reason)s FROM given_up, unnest(given_up.keys) AS k
ON CONFLICT (attachment_id, key) DO UPDATE SET reason = excluded.reason, at = now()
