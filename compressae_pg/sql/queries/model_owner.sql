-- The roles, still there, that own stored versions of a model name and that the current role does not
-- act for (none: it may add a version, or drop them). models.owner is read through to_jsonb so that
-- the query also runs on a schema from before 0009, where every name is free.
SELECT DISTINCT o.role::text
FROM compressae.models m
CROSS JOIN LATERAL (SELECT (to_jsonb(m) ->> 'owner')::regrole AS role) o
JOIN pg_roles r ON r.oid = o.role
WHERE m.name = %(name)s AND NOT pg_has_role(o.role, 'USAGE')
ORDER BY 1
