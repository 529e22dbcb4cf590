-- Why the rows a sync batch could not encode have no code: their dimension and norm, by pgvector.
SELECT pg_catalog.format('%1$s', t.{key}), {dims}(t.{source}), {norm}(t.{source})
FROM {table} AS t
WHERE t.{key} = ANY ({keys})
