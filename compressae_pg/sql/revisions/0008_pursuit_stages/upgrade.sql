-- 0008: pursuit in stages. compressae.models.stages (1 for every model stored before) splits a model's
-- pursuit atoms into equal stages, each refitting before it looks at the residual, as
-- CompresSAE.select does with Encoding.stages; encode loops over them. One stage is the encode of
-- 0002, step for step.
ALTER TABLE compressae.models ADD COLUMN stages integer NOT NULL DEFAULT 1;
ALTER TABLE compressae.models ADD CONSTRAINT models_stages_check
    CHECK (stages >= 1 AND (stages = 1 OR (pursuit > 0 AND pursuit % stages = 0)));
COMMENT ON COLUMN compressae.models.stages IS 'pursuit stages: the pursuit atoms join the support in this many equal steps, each after a refit';

-- compressae.encode(model, v): the k-sparse code of v, exactly as CompresSAE.compress computes it.
--   x = v / |v|;  pre_i = encoder_i · x + bias_i for all h atoms (pgvector's <#> is -(a·b), in C).
--   The paper's encoding keeps the k entries of largest |pre_i| with their signs. A model trained
--   with refit replaces those values by the least-squares fit of x on the chosen atoms; with
--   pursuit p in s stages (models.stages), the encoder chooses k - p atoms, and s times the p/s
--   atoms most correlated with the residual of the fit so far join them, before the final fit. Finally the values are scaled so that the decoded vector
--   Σ s_i · decoder_i has unit norm. Sparsevec index i+1 holds atom i.
-- `model` is 'name' (newest version) or 'name@version'. NULL in, NULL out. A vector of the wrong
-- dimension or an all-zero vector is refused by name; pgvector itself refuses NaN and infinity.
CREATE OR REPLACE FUNCTION compressae.encode(model text, v vector)
RETURNS sparsevec
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    m     compressae.model_info := compressae.resolve_model(model);
    x     vector := l2_normalize(compressae.check_input(v, m.dim, m.name || '@' || m.version));
    chosen   integer[];
    val      float8[];
    more     integer[];
    residual vector;
    stages   integer := 0;  -- pursuit stages: none without pursuit
    per      integer;
    norm  float8;
    code  real[] := array_fill(0::real, ARRAY[m.h]);
BEGIN
    -- (A window function here to number the picks would sort all h rows: 7x slower.)
    SELECT array_agg(t.idx ORDER BY abs(t.pre) DESC), array_agg(t.pre ORDER BY abs(t.pre) DESC) INTO chosen, val
    FROM (
        SELECT a.idx, a.pre
        FROM (SELECT e.idx, e.bias - (e.encoder <#> x) AS pre
              FROM compressae.encoder_atoms e WHERE e.model_id = m.id) a
        ORDER BY abs(a.pre) DESC
        LIMIT m.k - m.pursuit
    ) t;
    IF m.pursuit > 0 THEN
        SELECT mo.stages INTO stages FROM compressae.models mo WHERE mo.id = m.id;
        per := m.pursuit / stages;
    END IF;
    FOR stage IN 1 .. stages LOOP
        residual := x - compressae.decode_atoms(m.id, m.dim, chosen, compressae.least_squares(m.id, x, chosen));
        -- The support is orthogonal to the residual, so it never ranks; it is left out after the
        -- scan (a per-row `<> ALL (chosen)` filter would cost more than the scan itself).
        SELECT array_agg(t.idx ORDER BY t.corr DESC) INTO more
        FROM (
            SELECT d.idx, abs(d.decoder <#> residual) AS corr
            FROM compressae.decoder_atoms d
            WHERE d.model_id = m.id
            ORDER BY 2 DESC
            LIMIT per + cardinality(chosen)
        ) t;
        chosen := chosen || (SELECT array_agg(i ORDER BY o) FROM (
            SELECT i, o FROM unnest(more) WITH ORDINALITY AS u (i, o) WHERE i <> ALL (chosen) ORDER BY o LIMIT per) kept);
    END LOOP;
    IF m.refit THEN
        val := compressae.least_squares(m.id, x, chosen);
    END IF;
    norm := vector_norm(compressae.decode_atoms(m.id, m.dim, chosen, val));
    IF norm = 0 THEN
        RAISE EXCEPTION 'model %@% decodes this vector to zero; it has no code', m.name, m.version
            USING ERRCODE = 'data_exception';
    END IF;
    -- Built as a dense array and cast, not as text: real's text form depends on extra_float_digits.
    FOR i IN 1 .. cardinality(chosen) LOOP
        code[chosen[i] + 1] := (val[i] / norm)::real;
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
