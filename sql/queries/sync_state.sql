-- A queue attachment's backlog: entries, rows they name, the age of the oldest (the sync lag), failures.
SELECT count(*), count(DISTINCT q.key), extract(epoch FROM now() - min(q.enqueued_at))::float8,
       (SELECT count(*) FROM compressae.sync_failures f WHERE f.attachment_id = %(attachment)s)
FROM compressae.sync_queue q
WHERE q.attachment_id = %(attachment)s
