"""Defaults that several front doors share, each written once (CLI help texts quote them from here)."""

HNSW_M = 16  # HNSW graph degree (pgvector's default)
HNSW_EF_CONSTRUCTION = 64  # HNSW build-time candidate list (pgvector's default)
EF_SEARCH = 100  # hnsw.ef_search for dense reference indexes in evaluations and SQLAlchemy's helper
CANDIDATES = 100  # rows the index returns for the rerank
BATCH_SIZE = 1000  # rows per backfill batch (one short transaction)
