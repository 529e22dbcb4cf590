COPY compressae.encoder_atoms (model_id, idx, bias, encoder) FROM STDIN (FORMAT binary)
