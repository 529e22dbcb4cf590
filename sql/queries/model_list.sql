SELECT id, name, version, dim, h, k, source, params, metrics, created_at
FROM compressae.models
WHERE %(name)s::text IS NULL OR name = %(name)s::text
ORDER BY name, version
