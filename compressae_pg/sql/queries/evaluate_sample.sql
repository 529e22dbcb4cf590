-- An evaluation's queries: a repeatable sample of a vector column (ordered by a seeded hash of the
-- row's ctid, so no random() state), with the row's key as text to leave it out of its own truth.
SELECT {key}, {column}
FROM {table}
WHERE {column} IS NOT NULL
ORDER BY pg_catalog.hashtextextended(ctid::text, {seed})
LIMIT {n}
