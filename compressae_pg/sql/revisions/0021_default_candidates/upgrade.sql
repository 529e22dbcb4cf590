-- 0021: compressae.search hands the rerank 200 candidates by default (it was 100), as the Python API, SQLAlchemy
-- and the CLI do (compressae_pg/_defaults.py, CANDIDATES). The function is otherwise the one 0018 wrote: its
-- definition is read back and written again with the one default changed.
DO $$
DECLARE
    old text := pg_catalog.pg_get_functiondef(
        'compressae.search(regclass, name, @vector_schema@.vector, integer, integer, text, jsonb)'::pg_catalog.regprocedure);
    new text := pg_catalog.replace(old, ' candidates integer DEFAULT 100,', ' candidates integer DEFAULT 200,');
BEGIN
    IF new OPERATOR(pg_catalog.=) old THEN
        RAISE EXCEPTION 'compressae.search has no candidates DEFAULT 100 to change';
    END IF;
    EXECUTE new;
END
$$;
