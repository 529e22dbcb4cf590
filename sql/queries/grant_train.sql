-- What a role needs to store a trained model (a new version of any name) and to drop models.
GRANT INSERT, DELETE ON compressae.models, compressae.encoder_atoms, compressae.decoder_atoms TO {role};
