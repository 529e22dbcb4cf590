-- The roles that own stored versions of a model name and that the current role does not act for (none: it may add a
-- version, or drop them), and whether each was dropped: a dropped role's name is no other role's to take (0025) until
-- a DBA gives it to one. models.owner is read through to_jsonb so that the query also runs on a schema from before
-- 0009, where every name is free.
SELECT DISTINCT coalesce(r.rolname::text, o.role::oid::text), r.oid IS NULL
FROM compressae.models m
CROSS JOIN LATERAL (SELECT (to_jsonb(m) ->> 'owner')::regrole AS role) o
LEFT JOIN pg_roles r ON r.oid = o.role
WHERE m.name = %(name)s AND o.role IS NOT NULL AND (r.oid IS NULL OR NOT pg_has_role(r.oid, 'USAGE'))
ORDER BY 1
