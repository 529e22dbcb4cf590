"""The compressae schema: models, atoms, attachments, backfill jobs.

Revision ID: 0001_registry
Revises:
Create Date: 2026-11-23
"""

from compressae_pg._migrate import run_sql_file

revision = "0001_registry"
down_revision = None
branch_labels = ("compressae",)
depends_on = None


def upgrade() -> None:
    run_sql_file("revisions/0001_registry/upgrade.sql")


def downgrade() -> None:
    run_sql_file("revisions/0001_registry/downgrade.sql")
