-- Exact coverage of a code column (a full scan of the table): rows, rows with a code, and rows
-- whose source is set but whose code is missing.
SELECT count(*),
       count(*) FILTER (WHERE t.{code} IS NOT NULL),
       count(*) FILTER (WHERE t.{source} IS NOT NULL AND t.{code} IS NULL)
FROM {table} AS t
