-- The batch's codes on their way in: one row per row version read, emptied at every commit.
-- {sparsevec}: pgvector's type, named by schema. The residual sketch (0010) rides beside the code.
CREATE TEMP TABLE IF NOT EXISTS compressae_batch (
    tbl      oid NOT NULL,
    tid      tid NOT NULL,
    row_xmin xid NOT NULL,
    code     {sparsevec},
    residual varbit
) ON COMMIT DELETE ROWS
