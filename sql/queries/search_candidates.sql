-- The candidates of one search: the rows whose code is nearest the query's code by sparse cosine,
-- as the HNSW index on the code column returns them, with the columns the rerank reads ({extra}).
-- model_id is the model the attachment has now: a column resolved before a re-compression notices
-- the swap and resolves again. Composed with literals only (no parameters), so any identifier works.
SELECT {key} AS key,
       {code} OPERATOR({ops}.<=>) {query} AS distance,
       (SELECT a.model_id FROM compressae.attachments a WHERE a.id = {attachment}) AS model_id
       {extra}
FROM {table}
WHERE {code} IS NOT NULL AND ({filter})
ORDER BY {code} OPERATOR({ops}.<=>) {query}
LIMIT {limit}
