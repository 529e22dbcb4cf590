-- Claim the attachment's oldest queue entries that no other worker holds, and with them every other
-- entry of the same rows that is free (a row queued several times is encoded once). The locks last
-- until the transaction that writes the codes deletes the entries, so a worker that dies (kill -9, a
-- server restart) leaves them queued. `valid`: whether the key is a value of the table's key type
-- (an entry that is not cannot name a row; the worker records it as a failure instead of reading).
WITH head AS (
    SELECT q.id, q.key
    FROM compressae.sync_queue q
    WHERE q.attachment_id = %(attachment)s
    ORDER BY q.id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), same AS (
    SELECT q.id, q.key
    FROM compressae.sync_queue q
    WHERE q.attachment_id = %(attachment)s
      AND q.key IN (SELECT key FROM head)
      AND q.id NOT IN (SELECT id FROM head)
    FOR UPDATE SKIP LOCKED
)
SELECT c.id, c.key, pg_input_is_valid(c.key, %(key_type)s)
FROM (SELECT * FROM head UNION ALL SELECT * FROM same) AS c
ORDER BY c.id
