-- A peer's own HNSW index with pgvector's default build settings, as a user would make it.
CREATE INDEX {index} ON {peer} USING hnsw (v {opclass})
