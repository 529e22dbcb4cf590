-- Abandon an attachment's unfinished jobs (a restart plans a new run).
UPDATE compressae.backfill_jobs
SET status = 'cancelled', updated_at = now(), finished_at = now()
WHERE attachment_id = %(attachment)s AND status NOT IN ('done', 'cancelled')
