-- 0015: the sync queue's upkeep (issue 26, finding 12).
-- The queue entries of an attachment go with it. The queue has no foreign key (0006: an RI check per entry
-- would lock the attachment's row in every application write); a row trigger on compressae.attachments
-- deletes a deleted attachment's entries instead, whoever deletes it: detach (which deleted them already),
-- or the table's owner forgetting the leftover record of a table dropped without a detach. Its failure
-- records already go with it (a foreign key ON DELETE CASCADE, 0006).
-- The trigger's function is SECURITY DEFINER, owned by the schema's owner, because row-level security
-- (0009) keys an entry on its attachment's table, which a deleted attachment no longer names: its entries
-- are out of every granted role's sight. PUBLIC may not EXECUTE it (no role can put it on a table of its
-- own), and it refuses to run for any table but compressae.attachments.
CREATE FUNCTION compressae.forget_queue()
RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_RELID <> 'compressae.attachments'::regclass THEN
        RAISE EXCEPTION 'compressae.forget_queue is the trigger of compressae.attachments alone'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM compressae.sync_queue WHERE attachment_id = OLD.id;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION compressae.forget_queue() FROM PUBLIC;
COMMENT ON FUNCTION compressae.forget_queue() IS 'compressae: deletes a deleted attachment''s sync queue entries';
CREATE TRIGGER forget_queue AFTER DELETE ON compressae.attachments
    FOR EACH ROW EXECUTE FUNCTION compressae.forget_queue();

-- The entries of attachments deleted before.
DELETE FROM compressae.sync_queue q
WHERE NOT EXISTS (SELECT 1 FROM compressae.attachments a WHERE a.id = q.attachment_id);

-- A statement's entries cost time linear in its keys: the queue function numbers the changed rows and
-- groups them by 1,000 (one array_agg per entry, the entries in the statement's order). Until now it
-- aggregated every key into one array and sliced it 1,000 at a time, and each slice of a text array walks
-- it from its start: a cost growing with the square of the statement's size. Existing queue attachments
-- get the new function here (a view in a dropped table's place is left alone, as 0012 does).
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
               'INSERT INTO compressae.sync_queue (attachment_id, keys) SELECT %s, array_agg(s.k) FROM ('
               'SELECT n.%I::text AS k, (row_number() OVER () - 1) / 1000 AS piece FROM compressae_new n '
               'WHERE n.%I IS NOT NULL AND (TG_OP = %L OR n.%I IS NULL)) s GROUP BY s.piece ORDER BY s.piece; '
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
