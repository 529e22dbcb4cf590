-- Σ val_i · decoder_{idx_i} over atoms of one model (0-based idx): the decoder half of
-- encode, decode and similarity. The zero vector when there are no entries.
CREATE OR REPLACE FUNCTION compressae.decode_atoms(model_id bigint, dim integer, idx integer[], val float8[])
RETURNS vector
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
    SELECT coalesce(sum(a.decoder * array_fill(e.v::real, ARRAY[dim])::vector),
                    array_fill(0::real, ARRAY[dim])::vector)
    FROM unnest(idx, val) AS e (i, v)
    JOIN compressae.decoder_atoms a ON a.model_id = decode_atoms.model_id AND a.idx = e.i
$$;
