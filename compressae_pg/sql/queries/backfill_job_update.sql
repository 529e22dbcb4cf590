-- A job's state outside of a batch: status changes, errors, retries of a failed batch, sweep horizon.
UPDATE compressae.backfill_jobs
SET status      = coalesce(%(status)s, status),
    error       = %(error)s,
    retries     = retries + %(retries)s,
    horizon     = coalesce(%(horizon)s::bigint::text::xid8, horizon),
    started_at  = CASE WHEN status = 'pending' AND %(status)s = 'running' THEN now() ELSE started_at END,
    updated_at  = now(),
    finished_at = CASE WHEN %(status)s = 'done' THEN now() ELSE finished_at END
WHERE id = %(job)s
