-- Every row of the evaluated column with its key as text: streamed through a server-side cursor
-- to compute the exact top-k by brute force in bounded memory.
SELECT {key}::text, {column}
FROM {table}
WHERE {column} IS NOT NULL
