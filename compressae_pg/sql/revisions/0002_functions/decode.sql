-- compressae.decode(model, s): the reconstruction Σ s_i · decoder_i of a code, as
-- CompresSAE.decompress computes it. A code made by compressae.encode decodes to a unit vector.
-- `model` is 'name' (its newest version) or 'name@version'; the code must have the model's h
-- dimensions. NULL in, NULL out.
CREATE OR REPLACE FUNCTION compressae.decode(model text, s sparsevec)
RETURNS vector
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    m compressae.model_info := compressae.resolve_model(model);
    e record := compressae.sparse_entries(s);
BEGIN
    IF e.dims <> m.h THEN
        RAISE EXCEPTION 'model %@% has % atoms but the code has % dimensions', m.name, m.version, m.h, e.dims
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN compressae.decode_atoms(m.id, m.dim, e.idx, e.val::float8[]);
END
$$;
