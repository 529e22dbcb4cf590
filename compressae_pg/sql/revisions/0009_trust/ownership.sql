-- 0009: who may change what. Before it, any role with `db grant --train` could add a version under
-- another role's model name, replace or delete another model's atoms, or drop another's model; any
-- role at all could append to the sync queue (and, with OVERRIDING SYSTEM VALUE, take the identity
-- values the owner's trigger was about to use, failing every write to the owner's table); and any
-- `db grant` role could read and rewrite every table's jobs, queue and failure records.

-- A model name belongs to the role that stored its first version. Models stored before this revision
-- belong to the role that upgrades (the schema's owner): who trained them was not recorded, and the roles
-- that use one need not be its author. The DBA gives a name to its role with
-- UPDATE compressae.models SET owner = 'role' WHERE name = '...'.
ALTER TABLE compressae.models ADD COLUMN owner regrole;
UPDATE compressae.models SET owner = current_user::text::regrole;
ALTER TABLE compressae.models ALTER COLUMN owner SET DEFAULT current_user::text::regrole, ALTER COLUMN owner SET NOT NULL;
COMMENT ON COLUMN compressae.models.owner IS 'the role the model name belongs to: only it (or a member) adds versions, atoms or drops it';

-- Whether the current role acts for `role` (is it, or a member of it); false for a role that was dropped.
CREATE FUNCTION compressae.acts_for(role regrole)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = acts_for.role) THEN pg_has_role(acts_for.role, 'USAGE') ELSE false END
$$;

-- Whether the current role acts for the owner of every stored version of `name` (true for a new name;
-- versions whose owner was dropped belong to nobody).
CREATE FUNCTION compressae.owns_model_name(name text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT EXISTS (SELECT 1 FROM compressae.models m WHERE m.name = owns_model_name.name
                       AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = m.owner) AND NOT compressae.acts_for(m.owner))
$$;

-- Whether the current role may change model `model_id`'s atoms or stages: it acts for the model's owner,
-- and no attachment uses the model (codes written with it must stay what it decodes). False for a model
-- that is gone.
CREATE FUNCTION compressae.may_change_model(model_id bigint)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT compressae.acts_for(m.owner) FROM compressae.models m WHERE m.id = may_change_model.model_id), false)
           AND NOT EXISTS (SELECT 1 FROM compressae.attachments a WHERE a.model_id = may_change_model.model_id)
$$;

-- Whether the current role acts for the owner of an attachment's table, or holds `privilege` on it
-- (SELECT to read its jobs, queue and failures; UPDATE, the right to write its codes, to change them).
CREATE FUNCTION compressae.may_work_on(attachment_id bigint, privilege text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') OR has_table_privilege(c.oid, may_work_on.privilege)
                     FROM compressae.attachments a
                     JOIN pg_namespace n ON n.nspname = a.table_schema
                     JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
                     WHERE a.id = may_work_on.attachment_id), false)
$$;

ALTER TABLE compressae.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_read ON compressae.models FOR SELECT USING (true);
CREATE POLICY models_insert ON compressae.models FOR INSERT
    WITH CHECK (compressae.acts_for(owner) AND compressae.owns_model_name(name));
CREATE POLICY models_update ON compressae.models FOR UPDATE
    USING (compressae.may_change_model(id)) WITH CHECK (compressae.acts_for(owner) AND compressae.owns_model_name(name));
CREATE POLICY models_delete ON compressae.models FOR DELETE USING (compressae.acts_for(owner));

ALTER TABLE compressae.encoder_atoms ENABLE ROW LEVEL SECURITY;
CREATE POLICY encoder_atoms_read ON compressae.encoder_atoms FOR SELECT USING (true);
CREATE POLICY encoder_atoms_insert ON compressae.encoder_atoms FOR INSERT WITH CHECK (compressae.may_change_model(model_id));
CREATE POLICY encoder_atoms_update ON compressae.encoder_atoms FOR UPDATE
    USING (compressae.may_change_model(model_id)) WITH CHECK (compressae.may_change_model(model_id));
CREATE POLICY encoder_atoms_delete ON compressae.encoder_atoms FOR DELETE USING (compressae.may_change_model(model_id));

ALTER TABLE compressae.decoder_atoms ENABLE ROW LEVEL SECURITY;
CREATE POLICY decoder_atoms_read ON compressae.decoder_atoms FOR SELECT USING (true);
CREATE POLICY decoder_atoms_insert ON compressae.decoder_atoms FOR INSERT WITH CHECK (compressae.may_change_model(model_id));
CREATE POLICY decoder_atoms_update ON compressae.decoder_atoms FOR UPDATE
    USING (compressae.may_change_model(model_id)) WITH CHECK (compressae.may_change_model(model_id));
CREATE POLICY decoder_atoms_delete ON compressae.decoder_atoms FOR DELETE USING (compressae.may_change_model(model_id));

-- A trained model with pursuit stages is stored with an UPDATE of its stages: every role that may
-- store models may now do that (of its own models).
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT g.grantee::regrole FROM information_schema.role_table_grants g
             WHERE g.table_schema = 'compressae' AND g.table_name = 'models' AND g.privilege_type = 'INSERT'
               AND CASE WHEN g.grantee = 'PUBLIC' THEN false
                        ELSE NOT pg_has_role(g.grantee, (SELECT relowner FROM pg_class WHERE oid = 'compressae.models'::regclass), 'USAGE') END
    LOOP
        EXECUTE format('GRANT UPDATE (stages) ON compressae.models TO %s', r);
    END LOOP;
END
$$;

-- Jobs, checkpoints, queue entries and failure records follow their attachment's table.
ALTER TABLE compressae.backfill_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE compressae.backfill_xids ENABLE ROW LEVEL SECURITY;
ALTER TABLE compressae.sync_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE compressae.sync_failures ENABLE ROW LEVEL SECURITY;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['backfill_jobs', 'backfill_xids', 'sync_queue', 'sync_failures'] LOOP
        EXECUTE format('CREATE POLICY %I ON compressae.%I FOR SELECT USING (compressae.may_work_on(attachment_id, %L))',
                       t || '_read', t, 'SELECT');
        EXECUTE format('CREATE POLICY %I ON compressae.%I FOR INSERT WITH CHECK (compressae.may_work_on(attachment_id, %L))',
                       t || '_insert', t, 'UPDATE');
        EXECUTE format('CREATE POLICY %I ON compressae.%I FOR UPDATE USING (compressae.may_work_on(attachment_id, %L))'
                       ' WITH CHECK (compressae.may_work_on(attachment_id, %L))', t || '_update', t, 'UPDATE', 'UPDATE');
        EXECUTE format('CREATE POLICY %I ON compressae.%I FOR DELETE USING (compressae.may_work_on(attachment_id, %L))',
                       t || '_delete', t, 'UPDATE');
    END LOOP;
END
$$;

-- The queue takes entries from the owner's trigger only (below), each a flat list of non-NULL keys.
-- NOT VALID: an entry queued before is checked by the worker, which records a malformed one as a failure.
REVOKE INSERT ON compressae.sync_queue FROM PUBLIC;
ALTER TABLE compressae.sync_queue ADD CONSTRAINT sync_queue_keys_check
    CHECK (coalesce(array_ndims(keys), 0) = 1 AND array_position(keys, NULL) IS NULL) NOT VALID;

-- write_sync_queue_function as in 0007, but the function is SECURITY DEFINER and owned by the table's
-- owner, who holds INSERT on the queue: a role that writes the table appends the keys of the rows it
-- wrote, through the trigger, and can append nothing else. A trigger function cannot be called directly,
-- but any role with EXECUTE could attach it to a table of its own (whose key type's cast to text would
-- then run as the owner): PUBLIC gets no EXECUTE, and the function refuses to run for any other table.
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
        'SET search_path = pg_catalog, pg_temp AS %L',
        CASE WHEN or_replace THEN 'OR REPLACE' ELSE '' END, att.table_schema, name,
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
    a bigint;
BEGIN
    FOR a IN SELECT id FROM compressae.attachments WHERE sync = 'queue' ORDER BY id LOOP
        PERFORM compressae.write_sync_queue_function(a, true);
    END LOOP;
END
$$;
