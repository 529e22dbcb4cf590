-- A model by name and version, or the newest version when %(version)s is NULL.
SELECT id, name, version, dim, h, k, source, params, metrics, created_at
FROM compressae.models
WHERE name = %(name)s AND (%(version)s::int IS NULL OR version = %(version)s::int)
ORDER BY version DESC
LIMIT 1
