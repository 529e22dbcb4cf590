-- The checkpoint of a batch, in the batch's own transaction: the job's progress and, when the
-- batch wrote rows, this transaction's id (the sweep skips rows whose xmin is one of these).
-- It matches no job when the attachment changed since the run began (detached, attached again,
-- swapped by a re-compression: other model or other column): the caller then rolls the batch back,
-- so no code of the old model lands in a column that now belongs to another.
WITH mine AS (
    INSERT INTO compressae.backfill_xids (attachment_id, xid)
    SELECT a.id, pg_current_xact_id() FROM compressae.attachments a
    WHERE a.id = %(attachment)s AND %(written)s::bigint > 0
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
  AND EXISTS (SELECT 1 FROM compressae.attachments a
              WHERE a.id = %(attachment)s AND a.model_id = backfill_jobs.model_id AND a.code_column = %(code_column)s)
