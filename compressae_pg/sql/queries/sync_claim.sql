-- Claim those of the given entries that no other worker holds (and that still exist). The locks last
-- until the transaction that writes the codes deletes the entries, so a worker that dies (kill -9, a
-- server restart) leaves them queued. The keys of an entry that is not a flat list of non-NULL keys
-- (one queued before 0009's check) come back NULL, with the start of its text: it is recorded as a failure.
SELECT q.id,
       CASE WHEN coalesce(array_ndims(q.keys), 0) = 1 AND array_position(q.keys, NULL) IS NULL THEN q.keys END,
       left(q.keys::text, 100)
FROM compressae.sync_queue q
WHERE q.attachment_id = %(attachment)s AND q.id = ANY (%(ids)s::bigint[])
ORDER BY q.id
FOR UPDATE SKIP LOCKED
