-- op.drop_compressed_column: detach one code column of a table given by oid (SQLAlchemy bind parameters).
SELECT compressae.detach(CAST(CAST(:table_oid AS pg_catalog.int8) AS pg_catalog.oid)::pg_catalog.regclass,
                         CAST(:code_column AS pg_catalog.name))
