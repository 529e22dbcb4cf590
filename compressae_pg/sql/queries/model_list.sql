-- Every stored model version (or every version of %(name)s). Any role may store a model with params and metrics of
-- any size, so a listing, which every role's `models list` reads, keeps only what fits in 64 KiB as stored (its size
-- read from the value's header, without decompressing it) and names what it left out; `model_find` reads one in full.
SELECT id, name, version, dim, h, k,
       CASE WHEN pg_catalog.octet_length(source) OPERATOR(pg_catalog.<=) 1000 THEN source
            ELSE pg_catalog.left(source, 1000) OPERATOR(pg_catalog.||) ' …' END AS source,
       CASE WHEN pg_catalog.pg_column_size(params) OPERATOR(pg_catalog.<=) 65536 THEN params
            ELSE pg_catalog.jsonb_build_object('omitted', 'larger than 64 KiB: compressae-pg models export shows it') END AS params,
       CASE WHEN pg_catalog.pg_column_size(metrics) OPERATOR(pg_catalog.<=) 65536 THEN metrics
            ELSE pg_catalog.jsonb_build_object('omitted', 'larger than 64 KiB: compressae-pg models export shows it') END AS metrics,
       created_at
FROM compressae.models
WHERE %(name)s::text IS NULL OR name = %(name)s::text
ORDER BY name, version
