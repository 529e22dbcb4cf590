-- A bit-plane peer's top {n} (sign, sq2, sq4, sq8: evaluation/planes.py): the {candidates} rows nearest the
-- query's sign bits ({bits}) through the attachment's own sketch graph, the candidates its codes' default
-- search gets, ordered by the peer's score of each ({score}: a sum of bit_count terms over the candidate's
-- sketch c.sketch or its peer row p.v). Literals only, as in evaluate_dense_search.sql. The query's bits are
-- cast to the sketch column's own type, bit({width}): against varbit an operator planted for (bit, varbit) would win.
SELECT pg_catalog.format('%1$s', c.key)
FROM (SELECT {key} AS key, {sketch} AS sketch
      FROM {table}
      WHERE {code} IS NOT NULL AND {sketch} IS NOT NULL
      ORDER BY {sketch} OPERATOR({ops}.<~>) CAST({bits} AS pg_catalog.bit({width}))
      LIMIT {candidates}) c
JOIN {peer} p ON p.key = c.key
ORDER BY {score} DESC
LIMIT {n}
