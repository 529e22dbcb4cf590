-- Undoes 0021: compressae.search hands the rerank 100 candidates by default again.
DO $$
DECLARE
    old text := pg_catalog.pg_get_functiondef(
        'compressae.search(regclass, name, @vector_schema@.vector, integer, integer, text, jsonb)'::pg_catalog.regprocedure);
    new text := pg_catalog.replace(old, ' candidates integer DEFAULT 200,', ' candidates integer DEFAULT 100,');
BEGIN
    IF new OPERATOR(pg_catalog.=) old THEN
        RAISE EXCEPTION 'compressae.search has no candidates DEFAULT 200 to change';
    END IF;
    EXECUTE new;
END
$$;
