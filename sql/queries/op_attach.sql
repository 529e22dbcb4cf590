-- op.add_compressed_column: attach by the table name (and schema) as Alembic gives them.
-- Bind parameters in SQLAlchemy style, and no percent signs, so any DB-API driver runs it as written.
SELECT compressae.attach(
    CAST(concat_ws('.', quote_ident(CAST(:schema AS text)), quote_ident(CAST(:table AS text))) AS regclass),
    CAST(:column AS name), CAST(:model AS text), CAST(:code_column AS name), CAST(:sync AS text),
    CAST(:graph AS text), CAST(:residual_bits AS integer), CAST(:sketch_planes AS integer)
)
