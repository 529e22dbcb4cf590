-- Exact coverage of a code column (a full scan of the table): rows, rows with a code, rows whose
-- source is set but whose code is missing, and rows with a code but no residual sketch yet
-- ({residual}: the residual column's NULL test, or FALSE for an attachment without one).
SELECT count(*),
       count(*) FILTER (WHERE t.{code} IS NOT NULL),
       count(*) FILTER (WHERE t.{source} IS NOT NULL AND t.{code} IS NULL),
       count(*) FILTER (WHERE t.{code} IS NOT NULL AND {residual})
FROM {table} AS t
