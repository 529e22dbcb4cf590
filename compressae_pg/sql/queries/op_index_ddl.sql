-- The CREATE INDEX [CONCURRENTLY] text of an attachment's HNSW index (SQLAlchemy bind parameters).
SELECT compressae.index_ddl(CAST(:attachment_id AS pg_catalog.int8), CAST(:concurrent AS pg_catalog.bool),
                            CAST(:m AS pg_catalog.int4), CAST(:ef_construction AS pg_catalog.int4))
