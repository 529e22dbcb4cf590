"""A small application's Alembic environment: one connection, one transaction per revision.

The database comes from ``SAMPLE_APP_DSN`` and the driver from ``SAMPLE_APP_DRIVER`` (psycopg or
psycopg2), so the tests run the same revisions through both.
"""

import importlib
import os

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

driver = os.environ.get("SAMPLE_APP_DRIVER", "psycopg")
dbapi = importlib.import_module(driver)
engine = sa.create_engine(f"postgresql+{driver}://", creator=lambda: dbapi.connect(os.environ["SAMPLE_APP_DSN"]), poolclass=NullPool)

with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
