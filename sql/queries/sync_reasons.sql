-- Why the rows a sync batch could not encode have no code: their dimension and norm, by pgvector.
SELECT t.{key}::text, {dims}(t.{source}), {norm}(t.{source})
FROM {table} AS t
WHERE t.{key} = ANY ({keys})
