-- The staged atoms of a new model (atoms_stage.sql) into the registry.
INSERT INTO compressae.encoder_atoms (model_id, idx, bias, encoder)
SELECT model_id, idx, bias, encoder FROM pg_temp.compressae_encoder_atoms;
INSERT INTO compressae.decoder_atoms (model_id, idx, decoder)
SELECT model_id, idx, decoder FROM pg_temp.compressae_decoder_atoms
