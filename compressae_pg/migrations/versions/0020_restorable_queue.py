"""Queue triggers that check their table against the attachment record, not an oid a restore changes. See sql/revisions/0020_restorable_queue/.

Revision ID: 0020_restorable_queue
Revises: 0019_filter_ids_keys
Create Date: 2026-12-05
"""

from compressae_pg._migrate import run_sql_file

revision = "0020_restorable_queue"
down_revision = "0019_filter_ids_keys"
branch_labels = None
depends_on = None

DIR = "revisions/0020_restorable_queue/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
