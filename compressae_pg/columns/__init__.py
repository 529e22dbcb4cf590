"""Stage 2, code columns on application tables: attach and detach (``attachments``), the HNSW index
(``indexes``), least-privilege grants (``grants``), where each attachment stands (``state``)."""
