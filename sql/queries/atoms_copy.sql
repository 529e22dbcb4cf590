COPY compressae.atoms (model_id, idx, encoder, bias, decoder) FROM STDIN (FORMAT binary)
