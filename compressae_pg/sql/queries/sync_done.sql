-- In the transaction that wrote the batch's codes: delete (mark, 0022) the entries it took whole, keep the keys it
-- did not take of the one it took in part, record the rows it could not encode (with why), and forget
-- the failures of rows that now have a code. A failure is kept once per row, with the latest reason and the row
-- version that failed (NULL for a key naming no row), which a worker finding rows by their NULL code skips (0024).
WITH dequeued AS (
    UPDATE compressae.sync_queue SET doomed = true
    WHERE attachment_id = %(attachment)s AND id = ANY (%(ids)s::bigint[])
), trimmed AS (
    UPDATE compressae.sync_queue
    SET keys = keys[%(taken)s + 1:]
    WHERE attachment_id = %(attachment)s AND id = %(partial)s
), cleared AS (
    UPDATE compressae.sync_failures SET doomed = true
    WHERE attachment_id = %(attachment)s AND key = ANY (%(coded)s::text[]) AND NOT key = ANY (%(failed)s::text[])
)
INSERT INTO compressae.sync_failures AS f (attachment_id, key, reason, version)
SELECT %(attachment)s, u.key, u.reason, u.version
FROM unnest(%(failed)s::text[], %(reasons)s::text[], %(versions)s::text[]::xid[]) AS u(key, reason, version)
ON CONFLICT (attachment_id, key) DO UPDATE SET reason = excluded.reason, version = excluded.version, at = now()
