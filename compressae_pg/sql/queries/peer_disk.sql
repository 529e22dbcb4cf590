-- What a peer takes on disk while the evaluation runs: its table (with TOAST) and its indexes.
SELECT pg_table_size(c.oid), pg_indexes_size(c.oid)
FROM pg_class c
WHERE c.oid = to_regclass(quote_ident({schema}) || '.' || quote_ident({relation}))
