COPY pg_temp.compressae_batch (tbl, tid, row_xmin, code) FROM STDIN (FORMAT binary)
