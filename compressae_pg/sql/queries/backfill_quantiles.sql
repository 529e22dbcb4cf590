-- Primary-key values that cut a sample of the table (or of one leaf partition) into equal parts (for parallel key ranges).
-- Works for any sortable key type; the key's own ordering and collation are used, as in the batches.
-- Composed with literals only: an identifier holding '%' would otherwise be read as a placeholder.
-- The cuts come back as text by the key type's output function (pg_catalog.format), never a cast its owner may define.
SELECT ARRAY(SELECT pg_catalog.format('%1$s', u.cut) FROM pg_catalog.unnest(q.cuts) WITH ORDINALITY AS u(cut, i) ORDER BY u.i)
FROM (SELECT pg_catalog.percentile_disc({fractions}::float8[]) WITHIN GROUP (ORDER BY t.{key}) AS cuts
      FROM {table} AS t TABLESAMPLE SYSTEM ({percent}::float4)) q
