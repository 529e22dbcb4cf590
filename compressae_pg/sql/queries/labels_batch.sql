-- One keyset batch of a code column for its atom labels: the next rows that have a code, in key order,
-- with the key as text and the text column's value ({text}: NULL without one); format('%1$s') writes a value
-- with its type's output function, never with a cast that the type's owner may have defined. {lo} (exclusive) is a
-- literal or NULL; a NULL bound folds away at planning.
SELECT pg_catalog.format('%1$s', t.{key}), t.{code}, {text}
FROM {table} AS t
WHERE t.{code} IS NOT NULL
  AND ({lo} IS NULL OR t.{key} > {lo})
ORDER BY t.{key}
LIMIT {limit}
