"""Sync by queue: the trigger only clears the code and queues the row; workers encode. See sql/revisions/0006_sync_queue/.

Revision ID: 0006_sync_queue
Revises: 0005_partitions
Create Date: 2026-12-01
"""

from compressae_pg._migrate import run_sql_file

revision = "0006_sync_queue"
down_revision = "0005_partitions"
branch_labels = None
depends_on = None

DIR = "revisions/0006_sync_queue/"
FILES = ["schema.sql", "sync_trigger.sql", "attach.sql"]
# What downgrade() restores after downgrade.sql: the definitions 0006 replaced, as 0004 left them (0005 changed none).
PREVIOUS = ["revisions/0004_index_path/attach.sql", "revisions/0004_index_path/sync_trigger.sql"]


def upgrade() -> None:
    for path in FILES:
        run_sql_file(DIR + path)


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
    for path in PREVIOUS:
        run_sql_file(path)
