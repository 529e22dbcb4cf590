-- A peer's nearest rows by its own operator ({op}: <=> or <~>), through its index when it has one.
-- Literals only, as in evaluate_dense_search.sql.
SELECT pg_catalog.format('%1$s', key)
FROM {peer}
ORDER BY v OPERATOR({ops}.{op}) {query}
LIMIT {n}
