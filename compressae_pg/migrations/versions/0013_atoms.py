"""Atom labels: per attachment and model version, the rows that use each atom most. See sql/revisions/0013_atoms/.

Revision ID: 0013_atoms
Revises: 0012_queue
Create Date: 2026-12-03
"""

from compressae_pg._migrate import run_sql_file

revision = "0013_atoms"
down_revision = "0012_queue"
branch_labels = None
depends_on = None

DIR = "revisions/0013_atoms/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
