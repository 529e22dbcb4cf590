-- Split a claimed entry of more keys than one batch takes into entries of at most %(size)s keys, in key
-- order, keeping its time and attempts (the lag and the retry count stay true). The entry is read once
-- and unnested once, so this costs its size; trimming it batch by batch rewrote (and re-read) the whole
-- rest of its array each time, a cost growing with the square of its size. The new entries are this
-- transaction's until it commits: no other worker sees them before, and a rollback leaves the entry whole.
WITH gone AS (
    UPDATE compressae.sync_queue SET doomed = true
    WHERE attachment_id = %(attachment)s AND id = %(id)s
    RETURNING keys, enqueued_at, attempts
)
INSERT INTO compressae.sync_queue (attachment_id, keys, enqueued_at, attempts)
SELECT %(attachment)s, array_agg(u.k ORDER BY u.o), min(g.enqueued_at), min(g.attempts)
FROM gone g, unnest(g.keys) WITH ORDINALITY AS u(k, o)
GROUP BY (u.o - 1) / %(size)s
ORDER BY (u.o - 1) / %(size)s
RETURNING id, keys
