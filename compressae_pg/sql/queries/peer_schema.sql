-- The private schema an evaluation builds its peers in (halfvec, binary quantization, PCA, ...):
-- one per run, named by the caller, dropped with everything in it when the run ends.
CREATE SCHEMA {schema}
