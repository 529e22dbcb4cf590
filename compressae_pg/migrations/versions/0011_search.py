"""compressae.search at the Python path's speed, with the application's own filter. See sql/revisions/0011_search/.

Revision ID: 0011_search
Revises: 0010_residual
Create Date: 2026-12-03
"""

from compressae_pg._migrate import run_sql_file

revision = "0011_search"
down_revision = "0010_residual"
branch_labels = None
depends_on = None

DIR = "revisions/0011_search/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
