-- Every command checks the standalone history's revision before it runs.
GRANT SELECT ON compressae.compressae_alembic_version TO {role};
