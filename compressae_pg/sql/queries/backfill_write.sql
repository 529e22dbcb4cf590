-- Write a batch's codes ({residual_set}: and their residual sketches, where the attachment has them;
-- for a 'sketch' attachment, {sketch_set} fills the sketch column
-- from the row's own source vector). A row is updated only while the version that was read is
-- still current (same tableoid, ctid and xmin: any later UPDATE makes a new version), and only
-- when its code (or sketch) differs, so a row changed meanwhile is left to the sweep and a correct row is never rewritten.
-- The TID scan over the batch's ctids reaches the rows directly, whatever the planner's estimates.
-- It runs on the application's search_path (fill/worker.py, write_batch: the table's triggers fire as in its own
-- sessions), so every operator is named by schema and given its exact types: {ops} is pgvector's schema
-- (sparsevec's =), and the bit strings of {residual_differs} and {sketch_differs} are compared as varbit.
UPDATE {table} AS t
SET {code} = b.code{residual_set}{sketch_set}
FROM pg_temp.compressae_batch AS b
WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT tid FROM pg_temp.compressae_batch))
  AND t.tableoid OPERATOR(pg_catalog.=) b.tbl AND t.ctid OPERATOR(pg_catalog.=) b.tid AND t.xmin OPERATOR(pg_catalog.=) b.row_xmin
  AND ((t.{code} IS NULL) OPERATOR(pg_catalog.<>) (b.code IS NULL) OR NOT t.{code} OPERATOR({ops}.=) b.code{residual_differs}{sketch_differs})
