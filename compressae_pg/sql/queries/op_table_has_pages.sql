-- Whether an attachment's table (or a partition of it) has a page: then its index is left to the backfill. Read from
-- the catalog, not the table: a query on the table would plan its owner's index predicates, which in a superuser's
-- migration would run with a superuser's rights. A table whose rows were all deleted counts as having rows.
SELECT EXISTS (SELECT 1
               FROM compressae.attachments a
               CROSS JOIN LATERAL (SELECT a.table_oid::pg_catalog.regclass AS relid
                                   UNION ALL SELECT p.relid FROM pg_catalog.pg_partition_tree(a.table_oid::pg_catalog.regclass) p) r
               WHERE a.id OPERATOR(pg_catalog.=) CAST(:attachment_id AS pg_catalog.int8)
                 AND pg_catalog.pg_relation_size(r.relid) OPERATOR(pg_catalog.>) 0)
