-- A model (without its weights) from a reference: 'name' (the newest version) or 'name@version'.
CREATE OR REPLACE FUNCTION compressae.resolve_model(ref text)
RETURNS compressae.model_info
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    at      int := length(ref) - strpos(reverse(ref), '@') + 1;
    v_name    text := ref;
    v_version int;
    hit       compressae.model_info;
BEGIN
    IF ref IS NULL THEN
        RETURN NULL;
    END IF;
    IF strpos(ref, '@') > 0 THEN
        v_name := left(ref, at - 1);
        IF substr(ref, at + 1) !~ '^[0-9]+$' OR v_name = '' THEN
            RAISE EXCEPTION 'invalid model reference %: expected name or name@version', quote_literal(ref)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_version := substr(ref, at + 1)::int;
    END IF;
    SELECT m.* INTO hit
    FROM compressae.model_info m
    WHERE m.name = v_name AND (v_version IS NULL OR m.version = v_version)
    ORDER BY m.version DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown model %', quote_literal(ref)
            USING ERRCODE = 'undefined_object',
                  HINT = 'compressae-pg models lists the stored models';
    END IF;
    RETURN hit;
END
$$;
