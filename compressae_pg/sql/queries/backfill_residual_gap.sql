-- Whether a coded row has no residual sketch: a row written before 0010 added the column. A sweep
-- re-encodes only rows changed since the last run and never reaches it, so such a table gets a full pass.
SELECT EXISTS (SELECT 1 FROM {table} AS t WHERE t.{code} IS NOT NULL AND t.{residual} IS NULL)
