-- What a role needs to store a trained model (a new version of a name it owns, with its pursuit
-- stages) and to drop its models (by marking them; their atoms go with them); row-level security keeps it off
-- other roles' models (0009).
GRANT INSERT ON compressae.models, compressae.encoder_atoms, compressae.decoder_atoms TO {role};
SELECT compressae.grant_writes({grantee}::regrole, true);
