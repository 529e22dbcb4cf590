-- The checkpoint of a batch, in the batch's own transaction: the job's progress and, when the
-- batch wrote rows, this transaction's id (the sweep skips rows whose xmin is one of these).
WITH mine AS (
    INSERT INTO compressae.backfill_xids (attachment_id, xid)
    SELECT %(attachment)s, pg_current_xact_id() WHERE %(written)s::bigint > 0
    ON CONFLICT DO NOTHING
)
UPDATE compressae.backfill_jobs
SET last_key     = coalesce(%(last_key)s, last_key),
    rows_done    = rows_done + %(rows)s,
    rows_written = rows_written + %(written)s,
    rows_skipped = rows_skipped + %(skipped)s,
    batches      = batches + 1,
    retries      = retries + %(retries)s,
    status       = CASE WHEN %(finished)s THEN 'done' ELSE 'running' END,
    updated_at   = now(),
    finished_at  = CASE WHEN %(finished)s THEN now() END
WHERE id = %(job)s
