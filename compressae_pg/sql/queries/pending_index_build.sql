-- A queue attachment's pending index: the names of the invalid ones an interrupted build left (in the table's
-- schema, as every index of it), whether a valid one exists, the name and DDL of a new one, and the session's
-- lock_timeout for the build (its waits for other transactions), which the caller resets after.
SELECT (SELECT coalesce(array_agg(c.relname::text ORDER BY c.oid), ARRAY[]::text[])
        FROM compressae.pending_indexes(%(attachment)s) p JOIN pg_catalog.pg_class c ON c.oid = p.index::pg_catalog.oid
        WHERE NOT p.valid),
       compressae.pending_index(%(attachment)s) IS NOT NULL, d.index_name, d.ddl,
       set_config('lock_timeout', %(lock_timeout)s, false)
FROM compressae.pending_index_ddl(%(attachment)s) d
