-- The batch's codes on their way in: one row per row version read, emptied at every commit.
-- {sparsevec}: pgvector's type, named by schema.
CREATE TEMP TABLE IF NOT EXISTS compressae_batch (
    tbl      oid NOT NULL,
    tid      tid NOT NULL,
    row_xmin xid NOT NULL,
    code     {sparsevec}
) ON COMMIT DELETE ROWS
