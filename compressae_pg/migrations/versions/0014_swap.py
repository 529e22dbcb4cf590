"""A recompress's swap rewrites the swapped-in attachment's sync functions. See sql/revisions/0014_swap/.

Revision ID: 0014_swap
Revises: 0013_atoms
Create Date: 2026-12-03
"""

from compressae_pg._migrate import run_sql_file

revision = "0014_swap"
down_revision = "0013_atoms"
branch_labels = None
depends_on = None

DIR = "revisions/0014_swap/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
