-- Temporary tables the atoms of a new model are copied into: COPY cannot write a table under row-level
-- security (0009), so atoms_insert.sql moves them from here, each row checked by the policies.
DROP TABLE IF EXISTS pg_temp.compressae_encoder_atoms, pg_temp.compressae_decoder_atoms;
CREATE TEMPORARY TABLE compressae_encoder_atoms (LIKE compressae.encoder_atoms) ON COMMIT DROP;
CREATE TEMPORARY TABLE compressae_decoder_atoms (LIKE compressae.decoder_atoms) ON COMMIT DROP
