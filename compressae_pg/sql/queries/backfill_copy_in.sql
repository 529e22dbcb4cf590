COPY pg_temp.compressae_batch (tbl, tid, row_xmin, code, residual) FROM STDIN (FORMAT binary)
