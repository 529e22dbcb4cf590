-- A peer computed by the server from the evaluated column ({value}: a cast, binary_quantize or subvector
-- of it), keyed by the table's own key so that a dense rerank joins back through its primary key.
-- Unlogged: a scratch copy needs no WAL, and it is read through shared buffers like the user's table.
CREATE UNLOGGED TABLE {peer} AS
SELECT {key} AS key, CAST({value} AS {type}) AS v
FROM {table}
WHERE {column} IS NOT NULL
