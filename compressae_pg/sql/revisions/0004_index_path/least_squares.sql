-- Least-squares values of x on the atoms `idx` (0-based) of one model: solve (G + 1e-4·I) v = D x,
-- G = D Dᵀ over the chosen decoder rows, by Cholesky in float8. The same fit as
-- CompresSAE.least_squares (RIDGE = 1e-4 keeps a support with duplicate unit atoms solvable: two
-- identical atoms share the value one of them would get, as in torch).
-- Guard: in exact arithmetic every pivot of G + ridge·I is at least the ridge. G comes from pgvector's
-- float4 dot products, so a pivot below half the ridge, or below 1e-6 of its own diagonal (the float4
-- noise of that entry), means the atom is numerically a combination of the atoms before it and the
-- fit would be rounding noise (or the square root of a negative number). That is refused by name:
-- SQLSTATE 22000, 'compressae: numerically dependent atoms ...', naming the model and the atoms.
CREATE OR REPLACE FUNCTION compressae.least_squares(model_id bigint, x vector, idx integer[])
RETURNS float8[]
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    n    integer := cardinality(idx);
    rows vector[];
    g    float8[] := array_fill(0::float8, ARRAY[n * n]);
    b    float8[] := array_fill(0::float8, ARRAY[n]);
    l    float8[] := array_fill(0::float8, ARRAY[n * n]);
    y    float8[] := array_fill(0::float8, ARRAY[n]);
    v    float8[] := array_fill(0::float8, ARRAY[n]);
    s    float8;
BEGIN
    SELECT array_agg(a.decoder ORDER BY e.o) INTO rows
    FROM unnest(idx) WITH ORDINALITY AS e (i, o)
    JOIN compressae.decoder_atoms a ON a.model_id = least_squares.model_id AND a.idx = e.i;
    IF cardinality(rows) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'model % has no atom among %', model_id, idx USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- D x, and the lower triangle of G = D Dᵀ (all that the Cholesky factorisation reads)
    FOR i IN 1 .. n LOOP
        b[i] := -(rows[i] <#> x);
        FOR j IN 1 .. i LOOP
            g[(i - 1) * n + j] := -(rows[i] <#> rows[j]);
        END LOOP;
    END LOOP;
    -- G + ridge·I = L Lᵀ, then L y = b, Lᵀ v = y
    FOR j IN 1 .. n LOOP
        s := g[(j - 1) * n + j] + 1e-4;
        FOR p IN 1 .. j - 1 LOOP
            s := s - l[(j - 1) * n + p] * l[(j - 1) * n + p];
        END LOOP;
        IF NOT s >= greatest(0.5e-4, 1e-6 * (g[(j - 1) * n + j] + 1e-4)) THEN  -- NOT >=: NaN is refused too
            RAISE EXCEPTION 'compressae: numerically dependent atoms in the support of model %: atom % is a combination of atoms % (Cholesky pivot %)',
                model_id, idx[j], idx[1:j - 1], s
                USING ERRCODE = 'data_exception',
                      HINT = 'the model''s decoder has duplicate or near-duplicate atoms of large norm; retrain or renormalise its decoder rows';
        END IF;
        l[(j - 1) * n + j] := sqrt(s);
        FOR i IN j + 1 .. n LOOP
            s := g[(i - 1) * n + j];
            FOR p IN 1 .. j - 1 LOOP
                s := s - l[(i - 1) * n + p] * l[(j - 1) * n + p];
            END LOOP;
            l[(i - 1) * n + j] := s / l[(j - 1) * n + j];
        END LOOP;
    END LOOP;
    FOR i IN 1 .. n LOOP
        s := b[i];
        FOR p IN 1 .. i - 1 LOOP
            s := s - l[(i - 1) * n + p] * y[p];
        END LOOP;
        y[i] := s / l[(i - 1) * n + i];
    END LOOP;
    FOR i IN REVERSE n .. 1 LOOP
        s := y[i];
        FOR p IN i + 1 .. n LOOP
            s := s - l[(p - 1) * n + i] * v[p];
        END LOOP;
        v[i] := s / l[(i - 1) * n + i];
    END LOOP;
    RETURN v;
END
$$;
