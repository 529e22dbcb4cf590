-- The rows that use one atom, the largest values first. pgvector 0.8 has no element accessor for a
-- sparsevec: a row's value at atom j is its inner product with the unit sparsevec of atom j (index j+1 of
-- h in its text form), negated since the operator is the negative inner product: O(k) per row. No index
-- of the attachment orders by it, so this scans the code column (docs/sql.md shows the plan).
SELECT pg_catalog.format('%1$s', t.{key}), -(t.{code} OPERATOR({ops}.<#>) {unit}) AS value, {text}
FROM {table} AS t
WHERE t.{code} IS NOT NULL AND (t.{code} OPERATOR({ops}.<#>) {unit}) OPERATOR(pg_catalog.<>) 0::float8
ORDER BY t.{code} OPERATOR({ops}.<#>) {unit}, t.{key}
LIMIT {limit}
