-- compressae.encode(model, v): the k-sparse code of v, as CompresSAE.compress computes it.
--   x = v / |v|;  pre_i = encoder_i · x + bias_i for all h atoms (pgvector's <#> is -(a·b), in C);
--   keep the k entries of largest |pre_i| with their signs; scale them so that the decoded vector
--   Σ s_i · decoder_i has unit norm. Sparsevec index i+1 holds atom i.
-- `model` is 'name' (newest version) or 'name@version'. NULL in, NULL out. A vector of the wrong
-- dimension or an all-zero vector is refused by name; pgvector itself refuses NaN and infinity.
CREATE OR REPLACE FUNCTION compressae.encode(model text, v vector)
RETURNS sparsevec
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    m     compressae.models := compressae.resolve_model(model);
    x     vector := l2_normalize(compressae.check_input(v, m.dim, m.name || '@' || m.version));
    idx   integer[];
    pre   float8[];
    norm  float8;
    code  real[] := array_fill(0::real, ARRAY[m.h]);
BEGIN
    SELECT array_agg(t.idx ORDER BY t.idx), array_agg(t.pre ORDER BY t.idx) INTO idx, pre
    FROM (
        SELECT a.idx, a.pre
        FROM (SELECT atoms.idx, atoms.bias - (atoms.encoder <#> x) AS pre
              FROM compressae.atoms WHERE atoms.model_id = m.id) a
        ORDER BY abs(a.pre) DESC
        LIMIT m.k
    ) t;
    norm := vector_norm(compressae.decode_atoms(m.id, m.dim, idx, pre));
    IF norm = 0 THEN
        RAISE EXCEPTION 'model %@% decodes this vector to zero; it has no code', m.name, m.version
            USING ERRCODE = 'data_exception';
    END IF;
    -- Built as a dense array and cast, not as text: real's text form depends on extra_float_digits.
    FOR i IN 1 .. cardinality(idx) LOOP
        code[idx[i] + 1] := (pre[i] / norm)::real;
    END LOOP;
    RETURN code::sparsevec;
END
$$;

-- halfvec columns encode through the same function.
CREATE OR REPLACE FUNCTION compressae.encode(model text, v halfvec)
RETURNS sparsevec
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$ SELECT compressae.encode(model, v::vector) $$;
