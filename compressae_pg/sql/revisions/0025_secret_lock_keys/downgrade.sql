-- Back to 0024: advisory lock keys of the attachment's id alone, and a dropped role's model names free to any role.

CREATE OR REPLACE FUNCTION compressae.owns_model_name(name text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT NOT EXISTS (SELECT 1 FROM compressae.models m WHERE m.name = owns_model_name.name
                       AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = m.owner) AND NOT compressae.acts_for(m.owner))
$function$;

DROP TRIGGER make_lock_salt ON compressae.attachments;
DROP FUNCTION compressae.make_lock_salt();
DROP TABLE compressae.lock_salts;
DROP FUNCTION compressae.new_lock_salt();

CREATE OR REPLACE FUNCTION compressae.may_work_on(attachment_id bigint, privilege text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE')
                            OR has_table_privilege(c.oid, may_work_on.privilege)
                               AND (NOT c.relrowsecurity OR (SELECT r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user))
                     FROM compressae.attachments a
                     JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
                     WHERE a.id = may_work_on.attachment_id), false)
$function$;

DROP FUNCTION compressae.may_work_on(bigint, text, regrole);
