-- Back to 0018: filter_sql as 0011 made it, may_work_on as 0017 left it, and no id trigger.
DROP TRIGGER assign_id ON compressae.attachments;
DROP TRIGGER assign_id ON compressae.backfill_jobs;
DROP TRIGGER assign_id ON compressae.models;
DROP FUNCTION compressae.assign_id();

CREATE OR REPLACE FUNCTION compressae.filter_sql(tbl regclass, filter jsonb, param integer)
RETURNS text
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col   text;
    typ   text;
    eq    text;
    terms text[] := '{}';
BEGIN
    IF jsonb_typeof(filter) = 'null' THEN  -- a driver's None: no filter, as SQL NULL is
        RETURN 'true';
    END IF;
    IF jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION 'filter must be a JSON object of column: value pairs, not %', left(filter::text, 200)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'for example jsonb_build_object(''category'', $2); an array value matches any of its elements';
    END IF;
    FOR col IN SELECT jsonb_object_keys(filter) LOOP
        SELECT format_type(a.atttypid, a.atttypmod),
               (SELECT format('OPERATOR(%I.=)', o.oprnamespace::regnamespace::name) FROM pg_operator o
                WHERE o.oprname = '=' AND o.oprleft = a.atttypid AND o.oprright = a.atttypid)
        INTO typ, eq
        FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF typ IS NULL THEN
            RAISE EXCEPTION 'filter names column %, which table % does not have', quote_ident(col), tbl
                USING ERRCODE = 'undefined_column';
        END IF;
        eq := coalesce(eq, '=');
        terms := terms || CASE jsonb_typeof(filter -> col)
            WHEN 'null' THEN format('%I IS NULL', col)
            WHEN 'array' THEN format('%I %s ANY (CAST(ARRAY(SELECT jsonb_array_elements_text($%s -> %L)) AS %s[]))', col, eq, param, col, typ)
            ELSE format('%I %s CAST($%s ->> %L AS %s)', col, eq, param, col, typ)
        END;
    END LOOP;
    RETURN coalesce(nullif(array_to_string(terms, ' AND '), ''), 'true');
END
$$;
DROP FUNCTION compressae.filter_equality(oid, integer);

CREATE OR REPLACE FUNCTION compressae.may_work_on(attachment_id bigint, privilege text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') OR has_table_privilege(c.oid, may_work_on.privilege)
                     FROM compressae.attachments a
                     JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
                     WHERE a.id = may_work_on.attachment_id), false)
$$;
