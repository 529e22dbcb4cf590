-- Is the compressae schema there, and is it managed by the standalone history?
SELECT to_regclass('compressae.models') AS models,
       to_regclass('compressae.compressae_alembic_version') AS version_table
