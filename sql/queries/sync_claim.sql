-- Claim those of the given entries that no other worker holds (and that still exist). The locks last
-- until the transaction that writes the codes deletes the entries, so a worker that dies (kill -9, a
-- server restart) leaves them queued.
SELECT q.id, q.keys
FROM compressae.sync_queue q
WHERE q.attachment_id = %(attachment)s AND q.id = ANY (%(ids)s::bigint[])
ORDER BY q.id
FOR UPDATE SKIP LOCKED
