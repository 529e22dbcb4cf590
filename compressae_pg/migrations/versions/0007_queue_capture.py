"""The queue trigger appends its keys in slices of one array_agg: see sql/revisions/0007_queue_capture/.

Revision ID: 0007_queue_capture
Revises: 0006_sync_queue
Create Date: 2026-12-01
"""

from compressae_pg._migrate import run_sql_file

revision = "0007_queue_capture"
down_revision = "0006_sync_queue"
branch_labels = None
depends_on = None

DIR = "revisions/0007_queue_capture/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
    run_sql_file("revisions/0006_sync_queue/sync_trigger.sql")
    run_sql_file(DIR + "downgrade_triggers.sql")
