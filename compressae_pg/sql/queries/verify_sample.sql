-- The rows `verify` checks: each row's key, source vector, stored code, sketch and residual sketch as bit
-- text ({sketch}, {residual}: NULL for an attachment without one). {percent} < 100 samples
-- pages' rows with BERNOULLI so a large table is not read whole; the LIMIT keeps {limit} of them at
-- random (NULL: every row). Composed with literals only, so any identifier works.
SELECT pg_catalog.format('%1$s', t.{key}), t.{source}, t.{code}, {sketch}, {residual}
FROM {table} AS t TABLESAMPLE BERNOULLI ({percent})
ORDER BY random()
LIMIT {limit}
