"""The sync queue's keys in a canonical form, and row triggers that compare OLD and NEW. See sql/revisions/0012_queue/.

Revision ID: 0012_queue
Revises: 0011_search
Create Date: 2026-12-03
"""

from compressae_pg._migrate import run_sql_file

revision = "0012_queue"
down_revision = "0011_search"
branch_labels = None
depends_on = None

DIR = "revisions/0012_queue/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
