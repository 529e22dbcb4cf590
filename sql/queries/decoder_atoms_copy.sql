COPY compressae.decoder_atoms (model_id, idx, decoder) FROM STDIN (FORMAT binary)
