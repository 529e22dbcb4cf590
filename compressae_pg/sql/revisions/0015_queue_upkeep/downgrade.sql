-- Back to 0014: a deleted attachment's queue entries are kept (the ones 0015 deleted are not restored:
-- no attachment names them), and the queue function slices one array of a statement's keys, as in 0012.
DROP TRIGGER forget_queue ON compressae.attachments;
DROP FUNCTION compressae.forget_queue();

CREATE OR REPLACE FUNCTION compressae.write_sync_queue_function(attachment_id bigint, or_replace boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    att   compressae.attachments;
    name  text := 'compressae_sync_' || attachment_id || '_queue';
    pk    name;
    tbl   regclass;
    owner regrole;
BEGIN
    SELECT * INTO att FROM compressae.attachments WHERE id = attachment_id AND sync = 'queue';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attachment with id % syncs by queue', attachment_id USING ERRCODE = 'undefined_object';
    END IF;
    tbl := format('%I.%I', att.table_schema, att.table_name)::regclass;
    SELECT c.relowner::regrole INTO owner FROM pg_class c WHERE c.oid = tbl;
    SELECT a.attname INTO pk
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = tbl AND i.indisprimary AND i.indnkeyatts = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table %.% needs a single-column primary key to sync by queue', quote_ident(att.table_schema), quote_ident(att.table_name)
            USING ERRCODE = 'invalid_table_definition', HINT = 'the queue records changed rows by their key';
    END IF;
    IF NOT has_table_privilege(owner, 'compressae.sync_queue', 'INSERT') THEN
        RAISE EXCEPTION 'role %, the owner of table %, may not append to compressae.sync_queue', owner, tbl
            USING ERRCODE = 'insufficient_privilege', HINT = format('run `compressae-pg db grant %s` first', owner);
    END IF;
    EXECUTE format(
        'CREATE %s FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
        'SET search_path = pg_catalog, pg_temp SET DateStyle = %L SET IntervalStyle = %L SET TimeZone = %L '
        'SET extra_float_digits = 1 AS %L',
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, att.table_schema, name, 'ISO, YMD', 'postgres', 'UTC',
        format('BEGIN IF TG_RELID <> %s::oid THEN RAISE EXCEPTION %L USING ERRCODE = %L; END IF; '
               'INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, a.keys[i:i + 999] FROM ('
               'SELECT array_agg(n.%I::text) AS keys FROM compressae_new n '
               'WHERE n.%I IS NOT NULL AND (TG_OP = %L OR n.%I IS NULL)) a, generate_series(1, cardinality(a.keys), 1000) AS i; '
               'IF FOUND THEN PERFORM pg_notify(%L, %L); END IF; RETURN NULL; END',
               tbl::oid, format('compressae: this is the queue trigger of %s alone', tbl), 'insufficient_privilege',
               attachment_id, pk, att.source_column, 'INSERT', att.code_column, 'compressae_sync_' || attachment_id, ''));
    IF (SELECT p.proowner FROM pg_proc p WHERE p.oid = format('%I.%I()', att.table_schema, name)::regprocedure) <> owner THEN
        EXECUTE format('ALTER FUNCTION %I.%I() OWNER TO %s', att.table_schema, name, owner);
    END IF;
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %I.%I() FROM PUBLIC', att.table_schema, name);
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', att.table_schema, name,
                   format('compressae: queues rows of %I for `compressae-pg sync` to encode into %I', att.source_column, att.code_column));
END
$$;

DO $$
DECLARE
    a compressae.attachments;
BEGIN
    FOR a IN SELECT t.* FROM compressae.attachments t
             WHERE t.sync = 'queue'
               AND (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(format('%I.%I', t.table_schema, t.table_name))) IN ('r', 'p')
             ORDER BY t.id LOOP
        PERFORM compressae.write_sync_queue_function(a.id, true);
    END LOOP;
END
$$;
