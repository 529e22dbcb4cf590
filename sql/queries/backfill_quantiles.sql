-- Primary-key values that cut a sample of the table into equal parts (for parallel key ranges).
-- Works for any sortable key type; the key's own ordering and collation are used, as in the batches.
SELECT percentile_disc(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY t.{key})::text[]
FROM {table} AS t TABLESAMPLE SYSTEM (%(percent)s::float4)
