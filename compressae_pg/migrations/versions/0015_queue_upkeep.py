"""The sync queue's upkeep: a deleted attachment's queue entries go with it, and a statement's
entries are cut in time linear in its keys. See sql/revisions/0015_queue_upkeep/.

Revision ID: 0015_queue_upkeep
Revises: 0014_swap
Create Date: 2026-12-04
"""

from compressae_pg._migrate import run_sql_file

revision = "0015_queue_upkeep"
down_revision = "0014_swap"
branch_labels = None
depends_on = None

DIR = "revisions/0015_queue_upkeep/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
