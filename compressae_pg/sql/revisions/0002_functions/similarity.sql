-- compressae.similarity(model, a, b): the cosine of the two codes' reconstructions,
--   aᵀKb / √(aᵀKa · bᵀKb) with K = W_dec W_decᵀ,
-- computed by decoding each code over its own k atoms (O(k·d), cheaper than the O(k²·d) kernel
-- sums and equal to them). Codes must have the model's h dimensions and not be empty.
CREATE OR REPLACE FUNCTION compressae.similarity(model text, a sparsevec, b sparsevec)
RETURNS float8
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    xa vector := compressae.decode(model, a);
    xb vector := compressae.decode(model, b);
    na float8 := vector_norm(xa);
    nb float8 := vector_norm(xb);
BEGIN
    IF na = 0 OR nb = 0 THEN
        RAISE EXCEPTION 'code % decodes to the zero vector and has no direction', CASE WHEN na = 0 THEN 'a' ELSE 'b' END
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN -(xa <#> xb) / (na * nb);
END
$$;
