-- A queue attachment's backlog: row changes queued, entries, the age of the oldest (the sync lag), failures.
SELECT coalesce(sum(cardinality(q.keys)), 0)::bigint, count(*), extract(epoch FROM now() - min(q.enqueued_at))::float8,
       (SELECT count(*) FROM compressae.sync_failures f WHERE f.attachment_id = %(attachment)s)
FROM compressae.sync_queue q
WHERE q.attachment_id = %(attachment)s
