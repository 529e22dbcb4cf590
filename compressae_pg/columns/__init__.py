"""Stage 2, code columns on application tables: attach and detach (``attachments``), the HNSW index
(``indexes``, ``partitions``), least-privilege grants (``grants``)."""
