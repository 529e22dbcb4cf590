"""The residual sketch: 1 or 2 bits per dimension of what each code misses, written beside it and scored
by search. See sql/revisions/0010_residual/.

Revision ID: 0010_residual
Revises: 0009_trust
Create Date: 2026-12-03
"""

from compressae_pg._migrate import run_sql_file

revision = "0010_residual"
down_revision = "0009_trust"
branch_labels = None
depends_on = None

DIR = "revisions/0010_residual/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
    run_sql_file(DIR + "downgrade_functions.sql")
    run_sql_file("revisions/0009_trust/functions.sql")
