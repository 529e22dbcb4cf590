-- 0019: the second review's H2, M3 and M4.
-- H2: compressae.filter_sql took a filtered column's `=` from pg_operator in any schema, so an operator that a
-- role put in a schema of its own ran as whoever searched (the owner, in its own filtered search), and a second
-- `=`(text, text) made every filtered search on a text column fail. It now takes the equality of the type's
-- default btree operator class (pg_opclass and pg_amop: only a superuser creates those), names that operator by
-- its schema, and compares on the class's input type, where that operator matches exactly.
-- M3: the ids of attachments, backfill_jobs and models are identities and their primary keys, and INSERT ...
-- OVERRIDING SYSTEM VALUE (INSERT is all it needs) let a granted role take the ids the sequence hands out next:
-- the owner's attach, backfill and train then failed on the primary key. A trigger the schema's owner owns now
-- gives every new row an id the sequence drew for it, whatever the INSERT said. (sync_queue's key is
-- (attachment_id, id): a role names ids only among its own attachments' entries, and the application's writes
-- that fill the queue take no trigger more.)
-- M4: compressae.may_work_on let any role that may read an attachment's table see its queue's keys, its failures'
-- keys and its jobs' key ranges, those of rows the table's row-level security hides from that role included.
-- On a table with row security only roles that act for its owner (or bypass row security) work on it now.

-- Equality as the filter compares a column: the operator (schema-qualified) and the type both sides are cast
-- to (the column's own, or the class's unconstrained: varchar compares as text); an error when the column's type has no default btree operator class, or its class has no equality.
CREATE FUNCTION compressae.filter_equality(typ oid, typmod integer, OUT op text, OUT cmp text)
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base  oid := typ;
    mods  integer := typmod;
    t     pg_type;
    found integer;
BEGIN
    SELECT * INTO t FROM pg_type WHERE oid = base;
    WHILE t.typtype = 'd' LOOP  -- a domain compares as its base type
        base := t.typbasetype;
        mods := t.typtypmod;
        SELECT * INTO t FROM pg_type WHERE oid = base;
    END LOOP;
    -- The default btree class for the type: its own, else the one it is binary coercible to (varchar: text's),
    -- else the polymorphic one of its kind (arrays, enums, ranges, multiranges, composites); among several, the
    -- preferred type's (text's, not char's, for varchar), as CREATE INDEX picks.
    SELECT format('OPERATOR(%I.%s)', o.oprnamespace::regnamespace::name, o.oprname),
           CASE WHEN it.typtype = 'p' THEN format_type(typ, typmod)
                WHEN oc.opcintype = base THEN format_type(base, mods)
                ELSE format_type(oc.opcintype, -1) END,
           count(*) OVER (PARTITION BY oc.opcintype = base, it.typispreferred)
    INTO op, cmp, found
    FROM pg_opclass oc
    JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'btree'
    JOIN pg_type it ON it.oid = oc.opcintype
    LEFT JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amopmethod = am.oid AND ao.amopstrategy = 3
                        AND ao.amoplefttype = oc.opcintype AND ao.amoprighttype = oc.opcintype
    LEFT JOIN pg_operator o ON o.oid = ao.amopopr
    WHERE oc.opcdefault
      AND (oc.opcintype = base
           OR NOT EXISTS (SELECT 1 FROM pg_opclass x WHERE x.opcmethod = am.oid AND x.opcdefault AND x.opcintype = base)
              AND (EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = base AND k.casttarget = oc.opcintype AND k.castmethod = 'b')
                   OR oc.opcintype = 'anyarray'::regtype AND t.typcategory = 'A'
                   OR oc.opcintype = 'anyenum'::regtype AND t.typtype = 'e'
                   OR oc.opcintype = 'anyrange'::regtype AND t.typtype = 'r'
                   OR oc.opcintype = 'anymultirange'::regtype AND t.typtype = 'm'
                   OR oc.opcintype = 'record'::regtype AND t.typtype = 'c'))
      -- a polymorphic class's operator is resolved among its schema's: only pg_catalog's are out of every role's reach
      AND (it.typtype <> 'p' OR o.oprnamespace = 'pg_catalog'::regnamespace)
    ORDER BY oc.opcintype = base DESC, it.typispreferred DESC
    LIMIT 1;
    IF found IS DISTINCT FROM 1 OR op IS NULL THEN
        RAISE EXCEPTION 'filter cannot compare type %: it has % default btree operator class with an equality',
            format_type(typ, typmod), CASE WHEN found > 1 THEN 'more than one' ELSE 'no' END
            USING ERRCODE = 'undefined_function',
                  HINT = 'filter on another column, or pass a where= condition of your own';
    END IF;
END
$$;

-- A filter of {column: value} pairs as SQL over the table's columns, the value read from the jsonb parameter
-- $<param>: the Python API's where= mapping, the same rows (JSON null: IS NULL; an array: any of its values).
-- Each column is checked and quoted, each value bound, never spliced, and each compared by the equality of its
-- type's default btree operator class (compressae.filter_equality), named by its schema: no role's operator runs.
CREATE OR REPLACE FUNCTION compressae.filter_sql(tbl regclass, filter jsonb, param integer)
RETURNS text
LANGUAGE plpgsql STABLE STRICT SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col   text;
    a     record;
    eq    record;
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
        SELECT t.atttypid, t.atttypmod INTO a
        FROM pg_attribute t WHERE t.attrelid = tbl AND t.attname = col AND t.attnum > 0 AND NOT t.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'filter names column %, which table % does not have', quote_ident(col), tbl
                USING ERRCODE = 'undefined_column';
        END IF;
        IF jsonb_typeof(filter -> col) = 'null' THEN
            terms := terms || format('%I IS NULL', col);
            CONTINUE;
        END IF;
        eq := compressae.filter_equality(a.atttypid, a.atttypmod);
        terms := terms || CASE jsonb_typeof(filter -> col)
            WHEN 'array' THEN format('CAST(%I AS %s) %s ANY (CAST(ARRAY(SELECT jsonb_array_elements_text($%s -> %L)) AS %s[]))',
                                     col, eq.cmp, eq.op, param, col, eq.cmp)
            ELSE format('CAST(%I AS %s) %s CAST($%s ->> %L AS %s)', col, eq.cmp, eq.op, param, col, eq.cmp)
        END;
    END LOOP;
    RETURN coalesce(nullif(array_to_string(terms, ' AND '), ''), 'true');
END
$$;

-- Every new row of these tables takes an id its sequence gave this session: the one its identity default just
-- drew (the session's currval), else the sequence's next. An id an INSERT names (OVERRIDING SYSTEM VALUE) is
-- replaced, so no role takes ids the sequence hands out later to another's rows. SECURITY DEFINER: the roles
-- that insert have no right to the sequence (an identity's default needs none); it runs nothing but the two.
CREATE FUNCTION compressae.assign_id()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seq regclass := pg_get_serial_sequence(format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), 'id');
BEGIN
    BEGIN
        IF NEW.id = currval(seq) THEN
            RETURN NEW;
        END IF;
    EXCEPTION WHEN object_not_in_prerequisite_state THEN  -- no value drawn in this session yet
    END;
    NEW.id := nextval(seq);
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION compressae.assign_id() FROM PUBLIC;
CREATE TRIGGER assign_id BEFORE INSERT ON compressae.attachments FOR EACH ROW EXECUTE FUNCTION compressae.assign_id();
CREATE TRIGGER assign_id BEFORE INSERT ON compressae.backfill_jobs FOR EACH ROW EXECUTE FUNCTION compressae.assign_id();
CREATE TRIGGER assign_id BEFORE INSERT ON compressae.models FOR EACH ROW EXECUTE FUNCTION compressae.assign_id();

-- Whether the current role acts for the owner of an attachment's table, or holds `privilege` on it (SELECT to
-- read its jobs, queue and failures; UPDATE, the right to write its codes, to change them) and sees all its rows:
-- on a table with row-level security these name keys of rows its policies may hide, so only roles acting for its
-- owner (or with BYPASSRLS) work on it, as only they see its atom labels (compressae.labels_table).
CREATE OR REPLACE FUNCTION compressae.may_work_on(attachment_id bigint, privilege text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE')
                            OR has_table_privilege(c.oid, may_work_on.privilege)
                               AND (NOT c.relrowsecurity OR (SELECT r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user))
                     FROM compressae.attachments a
                     JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
                     WHERE a.id = may_work_on.attachment_id), false)
$$;
