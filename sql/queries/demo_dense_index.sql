-- The demo's dense baseline: an HNSW index on the vector column itself, what a table of
-- embeddings usually has, so that the codes are compared with it.
CREATE INDEX IF NOT EXISTS {index} ON {table} USING hnsw (embedding vector_cosine_ops)
