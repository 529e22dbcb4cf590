"""The two-plane sketch: sign(x) ‖ sign(y) of shifted differences, for new sketch attachments. See sql/revisions/0016_sketch/.

Revision ID: 0016_sketch
Revises: 0015_queue_upkeep
Create Date: 2026-12-04
"""

from compressae_pg._migrate import run_sql_file

revision = "0016_sketch"
down_revision = "0015_queue_upkeep"
branch_labels = None
depends_on = None

DIR = "revisions/0016_sketch/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
