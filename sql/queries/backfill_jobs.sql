-- The jobs of an attachment's latest backfill run: ranges in worker order, then the sweep.
SELECT id, run, kind, worker, key_lo, key_hi, last_key, horizon::text::bigint,
       rows_done, rows_written, rows_skipped, batches, retries, status, error,
       started_at, updated_at, finished_at
FROM compressae.backfill_jobs
WHERE attachment_id = %(attachment)s
  AND run = (SELECT max(run) FROM compressae.backfill_jobs WHERE attachment_id = %(attachment)s)
ORDER BY kind, worker
