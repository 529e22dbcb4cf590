-- A peer's {candidates} nearest rows, reranked by the evaluated dense column: the usual way to use a
-- lossy index when the dense column is kept. Joined back through the table's primary key.
SELECT pg_catalog.format('%1$s', t.{key})
FROM (SELECT key FROM {peer} ORDER BY v OPERATOR({ops}.{op}) {query} LIMIT {candidates}) c
JOIN {table} t ON t.{key} = c.key
ORDER BY t.{column} OPERATOR({ops}.<=>) CAST({dense} AS {type})
LIMIT {n}
