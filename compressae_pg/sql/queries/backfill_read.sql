-- One keyset batch: the next rows of a key range in key order, with the identity of each row
-- version (tableoid, ctid, xmin) so that the write can tell whether the row changed meanwhile.
-- {lo} (exclusive) and {hi} (inclusive) are literals or NULL; a NULL bound folds away at planning.
COPY (
    SELECT t.tableoid, t.ctid, t.xmin, pg_catalog.format('%1$s', t.{key}), t.{source}
    FROM {table} AS t
    WHERE ({lo} IS NULL OR t.{key} > {lo})
      AND ({hi} IS NULL OR t.{key} <= {hi})
    ORDER BY t.{key}
    LIMIT {limit}
) TO STDOUT (FORMAT binary)
