-- An empty peer table for a projection computed in Python (PCA, random projection): the table's key
-- type, and a value column of the peer's type, filled by COPY.
CREATE UNLOGGED TABLE {peer} AS
SELECT {key} AS key, CAST(NULL AS {type}) AS v
FROM {table}
WITH NO DATA
