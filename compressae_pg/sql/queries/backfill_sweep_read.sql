-- One chunk of the sweep: rows in a range of heap pages whose current version was written by a
-- transaction at or after the horizon (age() counts back from now, so it is wraparound-safe for
-- recent xids) and not by one of the backfill's own batches.
COPY (
    SELECT t.tableoid, t.ctid, t.xmin, pg_catalog.format('%1$s', t.{key}), t.{source}
    FROM ONLY {table} AS t
    WHERE t.ctid >= {lo}::tid AND t.ctid < {hi}::tid
      AND age(t.xmin) BETWEEN 0 AND age({horizon}::bigint::text::xid8::xid)
      AND NOT EXISTS (
          SELECT 1 FROM compressae.backfill_xids x
          WHERE x.attachment_id = {attachment} AND x.xid::xid = t.xmin
      )
) TO STDOUT (FORMAT binary)
