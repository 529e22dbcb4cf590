-- 0025: advisory lock keys that no other role can compute (issue 26, L4); a dropped role's model names kept (the
-- third review's L3, at the end).
-- An operation of an attachment (backfill, index, pending index) and a sync worker's batch held an advisory lock
-- whose key hashed the attachment's id, which compressae.attachments shows to every role: a role that may not work
-- on the table could take the key first and stall the owner's backfill. Each key now hashes a salt too, kept in
-- compressae.lock_salts, which row security shows only to the roles that may work on the attachment, and the turn of
-- its purpose. pg_locks still shows a key while it is held, so a holder moves its purpose's turn on when it is done
-- (compare and swap), and a worker that finds a key held by a role that may not work on the attachment moves it on
-- too (compressae_pg/_locks.py).

-- The rule of compressae.may_work_on, for any role: its 2-argument form asks it of the current role, as before.
CREATE FUNCTION compressae.may_work_on(attachment_id bigint, privilege text, worker regrole)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT coalesce((SELECT pg_has_role(may_work_on.worker, c.relowner, 'USAGE')
                            OR has_table_privilege(may_work_on.worker, c.oid, may_work_on.privilege)
                               AND (NOT c.relrowsecurity OR (SELECT r.rolbypassrls FROM pg_roles r WHERE r.oid = may_work_on.worker))
                     FROM compressae.attachments a
                     JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
                     WHERE a.id = may_work_on.attachment_id), false)
$function$;

CREATE OR REPLACE FUNCTION compressae.may_work_on(attachment_id bigint, privilege text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT compressae.may_work_on(may_work_on.attachment_id, may_work_on.privilege, current_user::regrole)
$function$;

-- 60 random bits (of gen_random_uuid, from the server's strong random source).
CREATE FUNCTION compressae.new_lock_salt()
 RETURNS bigint
 LANGUAGE sql
 VOLATILE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT ('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16))::bit(64)::bigint
$function$;

CREATE TABLE compressae.lock_salts (
    attachment_id bigint PRIMARY KEY REFERENCES compressae.attachments (id) ON DELETE CASCADE,
    salt bigint NOT NULL DEFAULT compressae.new_lock_salt(),
    turns jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE compressae.lock_salts IS
    'the secret hashed into each advisory lock key of an attachment; readable only by the roles that may work on it';
COMMENT ON COLUMN compressae.lock_salts.turns IS
    'per purpose, how many times its key was let go: hashed into its key, so that a key pg_locks showed is not taken again';
ALTER TABLE compressae.lock_salts ENABLE ROW LEVEL SECURITY;
CREATE POLICY lock_salts_read ON compressae.lock_salts FOR SELECT USING (compressae.may_work_on(attachment_id, 'UPDATE'));
CREATE POLICY lock_salts_update ON compressae.lock_salts FOR UPDATE USING (compressae.may_work_on(attachment_id, 'UPDATE'))
    WITH CHECK (compressae.may_work_on(attachment_id, 'UPDATE'));

-- Every attachment gets its salt as it is made; no role inserts one.
CREATE FUNCTION compressae.make_lock_salt()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'compressae.attachments'::regclass THEN
        RAISE EXCEPTION 'compressae.make_lock_salt is a trigger of compressae.attachments alone'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO compressae.lock_salts (attachment_id) VALUES (NEW.id) ON CONFLICT (attachment_id) DO NOTHING;
    RETURN NULL;
END
$function$;
REVOKE EXECUTE ON FUNCTION compressae.make_lock_salt() FROM PUBLIC;
CREATE TRIGGER make_lock_salt AFTER INSERT ON compressae.attachments FOR EACH ROW EXECUTE FUNCTION compressae.make_lock_salt();

INSERT INTO compressae.lock_salts (attachment_id) SELECT id FROM compressae.attachments;

-- Roles `db grant` made before: reading the salts of the attachments they may work on, and moving their turns on, as
-- grant_operate.sql now gives (never table-level UPDATE: 0022).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT acl.grantee::regrole AS grantee
        FROM pg_class c, aclexplode(c.relacl) acl
        WHERE c.oid = 'compressae.backfill_jobs'::regclass AND acl.privilege_type = 'INSERT' AND acl.grantee <> 0
    LOOP
        EXECUTE format('GRANT SELECT, UPDATE (turns) ON compressae.lock_salts TO %s', r.grantee);
    END LOOP;
END
$$;

-- A model name whose owning role was dropped was free to any `--train` role, and `attach --model NAME` (its newest
-- version) then took that role's weights. It now stays its dropped owner's until a superuser gives it to a role
-- (UPDATE compressae.models SET owner = ...), as models.owner's policies already kept its versions.
CREATE OR REPLACE FUNCTION compressae.owns_model_name(name text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT NOT EXISTS (SELECT 1 FROM compressae.models m WHERE m.name = owns_model_name.name AND NOT compressae.acts_for(m.owner))
$function$;
