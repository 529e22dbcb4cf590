-- The dense baseline of an evaluation: the nearest rows by the column's own index operator
-- ({op} is one of pgvector's <=>, <#>, <->), the query cast to the column's type. Literals only:
-- a '%' in a composed identifier would be read as a placeholder if the query took parameters.
SELECT pg_catalog.format('%1$s', {key})
FROM {table}
WHERE {column} IS NOT NULL
ORDER BY {column} OPERATOR({ops}.{op}) CAST({query} AS {type})
LIMIT {n}
