-- The CREATE INDEX statement for an attachment's HNSW index. Returned as text (not executed)
-- because CREATE INDEX CONCURRENTLY cannot run inside a function; callers run it themselves,
-- in autocommit. The index is named when the column is attached (attachments.index_name).
CREATE OR REPLACE FUNCTION compressae.index_ddl(
    attachment_id   bigint,
    concurrent      boolean DEFAULT false,
    m               integer DEFAULT 16,
    ef_construction integer DEFAULT 64
)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @vector_schema@, pg_temp
AS $$
DECLARE
    att compressae.attachments;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    IF m NOT BETWEEN 2 AND 100 OR ef_construction NOT BETWEEN 4 AND 1000 OR ef_construction < 2 * m THEN
        RAISE EXCEPTION 'HNSW needs 2 <= m <= 100 and 2m <= ef_construction <= 1000 (got m=%, ef_construction=%)', m, ef_construction
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN format(
        'CREATE INDEX %s IF NOT EXISTS %I ON %I.%I USING hnsw (%I %s) WITH (m = %s, ef_construction = %s)',
        CASE WHEN concurrent THEN 'CONCURRENTLY' ELSE '' END,
        att.index_name, att.table_schema, att.table_name, att.code_column, att.opclass, m, ef_construction
    );
END
$$;
