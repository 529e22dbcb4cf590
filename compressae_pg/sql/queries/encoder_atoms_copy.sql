COPY pg_temp.compressae_encoder_atoms (model_id, idx, bias, encoder) FROM STDIN (FORMAT binary)
