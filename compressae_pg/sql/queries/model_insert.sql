-- A new version of a model name: the next after those committed (a save that meets a concurrent one of the same
-- version takes the next again: registry.save).
INSERT INTO compressae.models (name, version, dim, h, k, refit, pursuit, source, params, metrics, weights)
SELECT %(name)s,
       COALESCE((SELECT max(version) FROM compressae.models WHERE name = %(name)s), 0) + 1,
       %(dim)s, %(h)s, %(k)s, %(refit)s, %(pursuit)s, %(source)s, %(params)s, %(metrics)s, %(weights)s
RETURNING id, name, version, dim, h, k, source, params, metrics, created_at
