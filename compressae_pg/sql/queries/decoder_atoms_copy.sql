COPY pg_temp.compressae_decoder_atoms (model_id, idx, decoder) FROM STDIN (FORMAT binary)
