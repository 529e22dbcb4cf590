-- A bit-plane peer's top {n} by its score ({score}, as in peer_planes_search.sql) over every row that has a
-- code and a sketch: the peer's full-scan answer.
SELECT pg_catalog.format('%1$s', c.key)
FROM (SELECT {key} AS key, {sketch} AS sketch
      FROM {table}
      WHERE {code} IS NOT NULL AND {sketch} IS NOT NULL) c
JOIN {peer} p ON p.key = c.key
ORDER BY {score} DESC
LIMIT {n}
