-- The CREATE INDEX [CONCURRENTLY] text of an attachment's HNSW index (SQLAlchemy bind parameters).
SELECT compressae.index_ddl(CAST(:attachment_id AS bigint), CAST(:concurrent AS boolean),
                            CAST(:m AS integer), CAST(:ef_construction AS integer))
