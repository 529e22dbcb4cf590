-- One chunk of a streamed column: a short statement over a range of heap pages (a TID range
-- scan), so no lock or snapshot is held between chunks. {filter} adds the deterministic sample
-- and the train/validation split, both hashes of the row's ctid. NULL rows come too, so that the
-- reader counts them (a NULL field is 6 bytes on the wire).
COPY (
    SELECT {column}
    FROM ONLY {table}
    WHERE ctid >= {lo}::tid AND ctid < {hi}::tid
      AND {filter}
) TO STDOUT (FORMAT binary)
