-- A vector handed to encode/project, checked against the model named `ref` that takes `dim`-d
-- input: the right dimension, and not all zeros. (pgvector never holds NaN or infinity: its input
-- and its arithmetic refuse them.)
CREATE OR REPLACE FUNCTION compressae.check_input(v vector, dim integer, ref text)
RETURNS vector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
BEGIN
    IF vector_dims(v) <> dim THEN
        RAISE EXCEPTION 'model % expects %-dimensional vectors, got %', ref, dim, vector_dims(v)
            USING ERRCODE = 'data_exception';
    END IF;
    IF vector_norm(v) = 0 THEN
        RAISE EXCEPTION 'cannot use an all-zero vector with model %: it has no direction', ref
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN v;
END
$$;
