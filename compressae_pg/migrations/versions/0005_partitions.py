"""Backfill jobs per leaf partition of a partitioned table: see sql/revisions/0005_partitions/.

Revision ID: 0005_partitions
Revises: 0004_index_path
Create Date: 2026-12-01
"""

from compressae_pg._migrate import run_sql_file

revision = "0005_partitions"
down_revision = "0004_index_path"
branch_labels = None
depends_on = None

DIR = "revisions/0005_partitions/"


def upgrade() -> None:
    run_sql_file(DIR + "schema.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
