-- Every function and operator named by schema: a connection handed in keeps its own search_path.
-- Average stored size of a value and, optionally, of the columns stored with it ({also}: the sketch
-- and residual sketch beside a code, as one sum of pg_column_size; NULL for none; pg_column_size: after
-- compression, with its header) over up to 10,000 rows where the value is not NULL, and the size of an
-- index of the table's schema (NULL when there is none).
SELECT (SELECT pg_catalog.avg(pg_catalog.pg_column_size(v) OPERATOR(pg_catalog.+) coalesce(w, 0))::float8
        FROM (SELECT {value} AS v, CAST({also} AS integer) AS w FROM {table} WHERE {value} IS NOT NULL LIMIT 10000) s),
       pg_catalog.pg_relation_size(pg_catalog.to_regclass(pg_catalog.quote_ident({schema}) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident({index})))
