-- op.drop_compressed_column: detach one code column of a table given by oid (SQLAlchemy bind parameters).
SELECT compressae.detach(CAST(CAST(:table_oid AS bigint) AS oid)::regclass, CAST(:code_column AS name))
