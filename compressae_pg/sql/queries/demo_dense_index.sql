-- The demo's dense baseline: an HNSW index on the halfvec column itself, the smallest dense
-- index pgvector offers for it, so that the codes are compared with it.
CREATE INDEX IF NOT EXISTS {index} ON {table} USING hnsw (embedding halfvec_cosine_ops)
