-- The HNSW index of one relation of a partitioned table. For a partitioned relation it is created
-- ON ONLY that relation: an index of it alone, invalid until an index of each of its partitions is
-- attached to it (PostgreSQL refuses CONCURRENTLY there). A leaf partition's is built CONCURRENTLY
-- unless asked otherwise. Every identifier is quoted, the operator class schema-qualified as
-- pg_opclass has it; m and ef_construction are integer literals checked by compressae.index_ddl.
CREATE INDEX {concurrently} IF NOT EXISTS {index} ON {only} {table}
USING hnsw ({column} {opclass}) WITH (m = {m}, ef_construction = {ef_construction})
