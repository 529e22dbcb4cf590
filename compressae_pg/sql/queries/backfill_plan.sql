-- The jobs of a new run, all under one run number: one row per key range (kind 'range') and the
-- optional sweep. A range of a partitioned table names the leaf partition it fills (else NULL).
WITH r AS (SELECT pg_catalog.nextval('compressae.backfill_runs'::pg_catalog.regclass) AS run)
INSERT INTO compressae.backfill_jobs (attachment_id, model_id, run, kind, worker, key_lo, key_hi, horizon, part_schema, part_name)
SELECT %(attachment)s, %(model)s, r.run, j.kind, j.worker, j.lo, j.hi, %(horizon)s::bigint::text::xid8, j.part_schema, j.part_name
FROM r CROSS JOIN unnest(%(kinds)s::text[], %(workers)s::int[], %(los)s::text[], %(his)s::text[], %(part_schemas)s::text[],
                         %(part_names)s::text[]) AS j(kind, worker, lo, hi, part_schema, part_name)
