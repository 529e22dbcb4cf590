-- The jobs of a new run, all under one run number: one row per key range (kind 'range') and the
-- optional sweep.
WITH r AS (SELECT nextval('compressae.backfill_runs') AS run)
INSERT INTO compressae.backfill_jobs (attachment_id, model_id, run, kind, worker, key_lo, key_hi, horizon)
SELECT %(attachment)s, %(model)s, r.run, j.kind, j.worker, j.lo, j.hi, %(horizon)s::bigint::text::xid8
FROM r CROSS JOIN unnest(%(kinds)s::text[], %(workers)s::int[], %(los)s::text[], %(his)s::text[]) AS j(kind, worker, lo, hi)
