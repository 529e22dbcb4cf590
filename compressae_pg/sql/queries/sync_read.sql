-- The current version of the queued rows, as the backfill reads a batch: identity (tableoid, ctid,
-- xmin), key as text, source. {keys} is one array literal of the key type (the text of each key).
COPY (
    SELECT t.tableoid, t.ctid, t.xmin, pg_catalog.format('%1$s', t.{key}), t.{source}
    FROM {table} AS t
    WHERE t.{key} = ANY ({keys})
) TO STDOUT (FORMAT binary)
