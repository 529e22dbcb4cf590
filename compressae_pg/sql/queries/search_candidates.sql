-- The candidates of one search, as the HNSW index on {graph} (the sketch column, by Hamming
-- distance to the query's sign bits; or the code column, by sparse cosine to the query's code)
-- returns them, with the columns the rerank reads ({extra}). $1 is the probe as text, cast to
-- {probe_type} (exactly the graph column's type: pgvector's sparsevec, or the sketch's bit(n)); $2 the number of candidates; $3 the attachment: model_id is the model it has now,
-- so a column resolved before a re-compression notices the swap and resolves again. Run with
-- positional parameters only (psycopg's RawCursor), so the text parses no '%' in any identifier
-- and stays the same from call to call (the server prepares it).
SELECT {key} AS key,
       {graph} OPERATOR({ops}.{op}) CAST($1 AS {probe_type}) AS distance,
       (SELECT a.model_id FROM compressae.attachments a WHERE a.id = $3) AS model_id
       {extra}
FROM {table}
WHERE {code} IS NOT NULL AND {graph} IS NOT NULL AND ({filter})
ORDER BY {graph} OPERATOR({ops}.{op}) CAST($1 AS {probe_type})
LIMIT $2
