-- The attachment's next queue entries after id `after`, oldest first, with how many keys each holds
-- (no lock: which of them are free shows when sync_claim locks them).
SELECT q.id, cardinality(q.keys)
FROM compressae.sync_queue q
WHERE q.attachment_id = %(attachment)s AND q.id > %(after)s
ORDER BY q.id
LIMIT %(limit)s
