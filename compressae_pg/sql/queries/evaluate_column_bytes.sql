-- Average stored size of a value and, optionally, of the columns stored with it ({also}: the sketch
-- and residual sketch beside a code, as one sum of pg_column_size; NULL for none; pg_column_size: after
-- compression, with its header) over up to 10,000 rows where the value is not NULL, and the size of an
-- index of the table's schema (NULL when there is none).
SELECT (SELECT avg(pg_column_size(v) + coalesce(w, 0))::float8
        FROM (SELECT {value} AS v, CAST({also} AS integer) AS w FROM {table} WHERE {value} IS NOT NULL LIMIT 10000) s),
       pg_relation_size(to_regclass(quote_ident({schema}) || '.' || quote_ident({index})))
