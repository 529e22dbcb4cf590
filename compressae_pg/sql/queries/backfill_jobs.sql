-- The jobs of an attachment's latest backfill run for the model it has now (a run made for another
-- model is neither resumed nor swept from): ranges in worker order, then the sweep. A range of a
-- partitioned table's job names its leaf partition.
SELECT id, run, kind, worker, key_lo, key_hi, last_key, horizon::text::bigint,
       rows_done, rows_written, rows_skipped, batches, retries, status, error,
       started_at, updated_at, finished_at, part_schema, part_name
FROM compressae.backfill_jobs
WHERE attachment_id = %(attachment)s
  AND run = (SELECT max(j.run) FROM compressae.backfill_jobs j JOIN compressae.attachments a ON a.id = j.attachment_id
             WHERE j.attachment_id = %(attachment)s AND j.model_id = a.model_id)
ORDER BY kind, worker
