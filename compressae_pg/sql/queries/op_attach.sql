-- op.add_compressed_column: attach by the table name (and schema) as Alembic gives them.
-- Bind parameters in SQLAlchemy style, and no percent signs, so any DB-API driver runs it as written. It runs on the
-- migration's own search_path (an application's): every function, type and operator is named by schema.
SELECT compressae.attach(
    CAST(pg_catalog.concat_ws('.', pg_catalog.quote_ident(CAST(:schema AS pg_catalog.text)),
                                pg_catalog.quote_ident(CAST(:table AS pg_catalog.text))) AS pg_catalog.regclass),
    CAST(:column AS pg_catalog.name), CAST(:model AS pg_catalog.text), CAST(:code_column AS pg_catalog.name), CAST(:sync AS pg_catalog.text),
    CAST(:graph AS pg_catalog.text), CAST(:residual_bits AS pg_catalog.int4), CAST(:sketch_planes AS pg_catalog.int4)
)
