-- Average stored size of a value (pg_column_size: after compression, with its header) over up to
-- 10,000 non-NULL rows, and the size of an index of the table's schema (NULL when there is none).
SELECT (SELECT avg(pg_column_size(v))::float8
        FROM (SELECT {value} AS v FROM {table} WHERE {value} IS NOT NULL LIMIT 10000) s),
       pg_relation_size(to_regclass(quote_ident({schema}) || '.' || quote_ident({index})))
