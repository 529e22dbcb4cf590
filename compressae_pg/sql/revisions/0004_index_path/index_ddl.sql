-- 0004: the CREATE INDEX statement for an attachment's HNSW index, over the sketch column
-- (graph 'sketch') or the code column (graph 'sparse'). Every identifier, the operator class
-- included, is quoted by format(%I); the operator class must be one that pgvector's hnsw access
-- method defines for the indexed column's type (0003 spliced the free-text opclass in with %s).
-- Returned as text because CREATE INDEX CONCURRENTLY cannot run inside a function.
CREATE OR REPLACE FUNCTION compressae.index_ddl(
    attachment_id   bigint,
    concurrent      boolean DEFAULT false,
    m               integer DEFAULT 16,
    ef_construction integer DEFAULT 64
)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att    compressae.attachments;
    col    name;
    ops    record;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id %', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    IF m NOT BETWEEN 2 AND 100 OR ef_construction NOT BETWEEN 4 AND 1000 OR ef_construction < 2 * m THEN
        RAISE EXCEPTION 'HNSW needs 2 <= m <= 100 and 2m <= ef_construction <= 1000 (got m=%, ef_construction=%)', m, ef_construction
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    col := CASE att.graph WHEN 'sketch' THEN att.sketch_column ELSE att.code_column END;
    SELECT n.nspname, oc.opcname INTO ops
    FROM pg_opclass oc
    JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hnsw'
    JOIN pg_namespace n ON n.oid = oc.opcnamespace
    JOIN pg_namespace tn ON tn.nspname = att.table_schema
    JOIN pg_class c ON c.relnamespace = tn.oid AND c.relname = att.table_name
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
    WHERE oc.opcname = att.opclass AND oc.opcintype = a.atttypid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'operator class % is not an hnsw operator class for column %.%.%',
            quote_literal(att.opclass), quote_ident(att.table_schema), quote_ident(att.table_name), quote_ident(col)
            USING ERRCODE = 'undefined_object';
    END IF;
    IF to_regclass(format('%I.%I', att.table_schema, att.index_name)) IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_index i WHERE i.indexrelid = to_regclass(format('%I.%I', att.table_schema, att.index_name))
                                   AND i.indrelid = to_regclass(format('%I.%I', att.table_schema, att.table_name))) THEN
        RAISE EXCEPTION 'index name %.% is taken by a relation that is not an index of %.%',
            quote_ident(att.table_schema), quote_ident(att.index_name), quote_ident(att.table_schema), quote_ident(att.table_name)
            USING ERRCODE = 'duplicate_object';
    END IF;
    RETURN format(
        'CREATE INDEX %s IF NOT EXISTS %I ON %I.%I USING hnsw (%I %I.%I) WITH (m = %s, ef_construction = %s)',
        CASE WHEN concurrent THEN 'CONCURRENTLY' ELSE '' END,
        att.index_name, att.table_schema, att.table_name, col, ops.nspname, ops.opcname, m, ef_construction
    );
END
$$;
