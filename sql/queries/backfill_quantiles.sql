-- Primary-key values that cut a sample of the table (or of one leaf partition) into equal parts (for parallel key ranges).
-- Works for any sortable key type; the key's own ordering and collation are used, as in the batches.
-- Composed with literals only: an identifier holding '%' would otherwise be read as a placeholder.
SELECT percentile_disc({fractions}::float8[]) WITHIN GROUP (ORDER BY t.{key})::text[]
FROM {table} AS t TABLESAMPLE SYSTEM ({percent}::float4)
