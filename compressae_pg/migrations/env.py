"""Alembic environment for the package's own ``compressae`` schema history.

Used by ``compressae-pg db upgrade|downgrade`` (see compressae_pg/_migrate.py), which passes an open
connection in ``config.attributes["connection"]``. Applications that include this history in their
own Alembic environment use *their* env.py; these revisions need nothing from this file.
"""

from alembic import context

from compressae_pg._migrate import SCHEMA, VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run these migrations with `compressae-pg db upgrade` or from your application's env.py")

connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    version_table_schema=SCHEMA,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
